"""pilot-agent: per workload, Envoy bootstrap and supervision, app start, readiness.

Must not import controlplane, translate, local or cli: the agent knows the control plane only as
an xDS address, and its stored config only as a file path it is given.
"""
