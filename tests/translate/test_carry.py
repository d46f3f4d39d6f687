"""`translate.carry.Carry`: a unit is reused across push contexts while what it read is
unchanged; an ordinary one is forgotten once a push context passes without it, a `lasting` one
only `LASTING_PUSHES` push contexts after its last use; a unit whose reads changed is built
again either way."""

from __future__ import annotations

from pilotfish.config import load
from pilotfish.config.kinds import VIRTUAL_SERVICE
from pilotfish.model.push_context import PushContext
from pilotfish.registry.types import RegistrySnapshot
from pilotfish.translate.carry import Carry

VS = (
    "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
    "metadata: {{name: r, namespace: default}}\n"
    "spec: {{hosts: [r], http: [{{route: [{{destination: {{host: r}}, weight: {w}}}]}}]}}\n"
)


def _push(carry: Carry, weight: int = 100) -> PushContext:
    found = load(VS.format(w=weight), "vs.yaml")
    assert found.ok, found.errors
    return PushContext(RegistrySnapshot(), tuple(found.objects), carry=carry)


def _ask(carry: Carry, push: PushContext, lasting: bool) -> object:
    def build() -> object:
        return (push.kind(VIRTUAL_SERVICE), object())  # reads the VirtualServices

    carry.start(push)
    return carry.unit(push, ("unit", lasting), build, lasting=lasting)


def test_a_lasting_unit_outlives_push_contexts_that_did_not_use_it() -> None:
    carry = Carry()
    objects = _push(carry).configs
    first = PushContext(RegistrySnapshot(), objects, carry=carry)  # the same objects in each
    plain, lasting = _ask(carry, first, False), _ask(carry, first, True)
    for _ in range(Carry.LASTING_PUSHES - 1):  # changes that do not read them
        carry.start(PushContext(RegistrySnapshot(), objects, carry=carry))
    later = PushContext(RegistrySnapshot(), objects, carry=carry)
    assert _ask(carry, later, True) is lasting
    assert _ask(carry, later, False) is not plain  # forgotten after one push without it


def test_a_lasting_unit_is_forgotten_after_its_pushes() -> None:
    carry = Carry()
    objects = _push(carry).configs
    lasting = _ask(carry, PushContext(RegistrySnapshot(), objects, carry=carry), True)
    for _ in range(2 * Carry.LASTING_PUSHES):
        carry.start(PushContext(RegistrySnapshot(), objects, carry=carry))
    again = PushContext(RegistrySnapshot(), objects, carry=carry)
    assert _ask(carry, again, True) is not lasting  # swept: built anew


def test_a_lasting_unit_whose_reads_changed_is_built_again() -> None:
    carry = Carry()
    lasting = _ask(carry, _push(carry), True)
    for _ in range(2):
        carry.start(_push(carry))  # the same content, other objects: no longer what it read
    assert _ask(carry, _push(carry), True) is not lasting
