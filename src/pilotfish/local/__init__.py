"""Local mode: `pilotfish up` runs a whole mesh on one machine from a manifest."""
