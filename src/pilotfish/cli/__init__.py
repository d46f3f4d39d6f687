"""The `pilotfish` command, istioctl-like; one module per subcommand."""
