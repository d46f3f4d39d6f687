"""`pilotfish describe pod|service`: istioctl's `experimental describe` for the local mesh.

Modules: `mesh_view` (API answers -> PushContext + proxy sync states), `rules` (which
DestinationRule, subsets, VirtualService and Gateway apply; pure), `render` (istioctl's wording),
`report` (one pod or service, pure), `command` (the I/O).
"""

from pilotfish.cli.describe.command import describe_command

__all__ = ["describe_command"]
