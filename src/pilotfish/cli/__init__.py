"""The `pilotfish` command, istioctl-like; one module per subcommand.

Must not import controlplane: the CLI talks to a running mesh over its HTTP API, asks `model`
its questions, and calls `translate` only to show what a proxy receives.
"""
