"""Istio's validatePolicyTargetReference for the kinds whose webhook applies it
(AuthorizationPolicy, RequestAuthentication, Telemetry): a `targetRef`/`targetRefs` entry must
name a Service, a ServiceEntry, a Gateway API Gateway or a GatewayClass (an empty group is the
core group). Names and namespaces of the reference are the CRD's rules (`cel`). Pure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pilotfish.config.raw import as_list, as_map
from pilotfish.config.schema import Problem
from pilotfish.config.yaml_text import join_path

TARGET_KINDS = (
    ("core", "v1", "Service"),
    ("networking.istio.io", "v1", "ServiceEntry"),
    ("gateway.networking.k8s.io", "v1", "Gateway"),
    ("gateway.networking.k8s.io", "v1", "GatewayClass"),
)
"""What a policy may be attached to, as Istio lists them (allowedTargetRefs)."""
_ALLOWED = "[" + " ".join("/".join(kind) for kind in TARGET_KINDS) + "]"


def _reference(ref: Any, path: str, found: list[Problem]) -> None:
    ref = as_map(ref)
    group, kind = str(ref.get("group") or ""), str(ref.get("kind") or "")
    if not any((group or "core") == g and kind == k for g, _, k in TARGET_KINDS):
        found.append(
            Problem(path, f"targetRef must be to one of {_ALLOWED} but was {group}/{kind}")
        )


def target_problems(spec: Any, root: str = "spec") -> list[Problem]:
    found: list[Problem] = []
    spec = as_map(spec)
    if spec.get("targetRef") is not None:
        _reference(spec["targetRef"], join_path(root, "targetRef"), found)
    for index, ref in enumerate(as_list(spec.get("targetRefs"))):
        _reference(ref, join_path(join_path(root, "targetRefs"), index), found)
    return found


def with_targets(
    check: Callable[[Any], list[Problem]] | None = None,
) -> Callable[[Any], list[Problem]]:
    """`check` (a kind's own raw rules, if any) followed by the target reference rule."""

    def both(spec: Any) -> list[Problem]:
        return [*(check(spec) if check is not None else []), *target_problems(spec)]

    return both
