"""pilot-agent: per workload, Envoy bootstrap and supervision, app start, readiness."""
