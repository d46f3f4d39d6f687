"""Local mode: `pilotfish up` runs a whole mesh on one machine from a manifest.

Must not import controlplane (it starts it as a process), translate, xds or cli.
"""
