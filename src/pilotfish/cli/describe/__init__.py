"""`pilotfish describe pod|service`: istioctl's `experimental describe` for the local mesh.

Modules: `mesh_view` (API answers -> PushContext + proxy sync states), `rules` (which
DestinationRule, subsets, VirtualService and Gateway apply; pure), `render` (istioctl's wording),
`authz` (the AuthorizationPolicies of a pod; pure),
`report` (one pod or service, pure), `command` (the I/O).

Tells what translation does by calling it (`translate.delegates`, `translate.peer_authentication`)
and asks `model` its questions; must not import controlplane, agent or local, nor hold a copy
of a rule translation owns.
"""

from pilotfish.cli.describe.command import describe_command

__all__ = ["describe_command"]
