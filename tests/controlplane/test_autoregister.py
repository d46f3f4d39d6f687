"""Auto-registration's pure parts against Istio's rules (`pilot/pkg/autoregistration`): entry
names, the entry made from a WorkloadGroup, who may control it, health conditions; bootstrap
tokens' expiry; an entry's mTLS and readiness in the registry."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Callable, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pilotfish.ca.errors import Unauthenticated
from pilotfish.ca.identity import Identity
from pilotfish.ca.tokens import TokenRegistry
from pilotfish.controlplane.autoregister import (
    AutoRegistration,
    Joining,
    entry_from_group,
    entry_name,
    grace_period,
    identity_problem,
    timestamp,
    with_condition,
)
from pilotfish.registry.service_entries import is_healthy, workload_entry_instances

NOW = datetime.datetime(2026, 11, 30, 16, 0, 0, 120000, tzinfo=datetime.UTC)


def test_entry_names_follow_istio() -> None:
    assert entry_name("vm", "10.0.0.1") == "vm-10.0.0.1"
    assert entry_name("vm", "2001:db8::1", "net1") == "vm-2001-db8--1-net1"
    long = entry_name("g" * 300, "10.0.0.1")
    assert len(long) == 253 and long.endswith("-10.0.0.1")  # cut from the front


def test_timestamps_are_rfc3339_nano_without_trailing_zeros() -> None:
    assert timestamp(NOW) == "2026-11-30T16:00:00.12Z"
    assert timestamp(NOW.replace(microsecond=0)) == "2026-11-30T16:00:00Z"


def test_the_grace_period_reads_istios_variable() -> None:
    assert grace_period({}) == 10.0
    assert grace_period({"PILOT_WORKLOAD_ENTRY_GRACE_PERIOD": "1.5s"}) == 1.5
    assert grace_period({"PILOT_WORKLOAD_ENTRY_GRACE_PERIOD": "soon"}) == 10.0


def _joining(**metadata: object) -> Joining:
    found = Joining.of(
        "sidecar~10.1.2.3~host.vm~vm.svc.cluster.local",
        {"AUTO_REGISTER_GROUP": "vm", "NAMESPACE": "vm"} | metadata,
    )
    assert found is not None
    return found


def test_the_entry_is_made_from_the_group_template_metadata_and_proxy() -> None:
    group = {
        "metadata": {"name": "vm", "namespace": "vm"},
        "spec": {
            "metadata": {"labels": {"app": "a", "tier": "m"}, "annotations": {"team": "blue"}},
            "template": {"serviceAccount": "sa", "labels": {"app": "t", "x": "1"}, "weight": 3},
        },
    }
    joining = _joining(
        LABELS={"tier": "p"}, NETWORK="n1", PROXY_CONFIG={"readinessProbe": {"tcpSocket": {}}}
    )
    doc = entry_from_group(joining, group, "pilotfish-1", NOW)
    assert doc["metadata"]["name"] == "vm-10.1.2.3-n1"
    assert doc["metadata"]["namespace"] == "vm"
    # node metadata > WorkloadGroup.metadata > WorkloadGroup.template
    assert doc["spec"]["labels"] == {"app": "a", "tier": "p", "x": "1"}
    assert doc["metadata"]["labels"] == doc["spec"]["labels"]
    assert doc["spec"]["address"] == "10.1.2.3"
    assert doc["spec"]["network"] == "n1"
    assert doc["spec"]["weight"] == 3 and doc["spec"]["serviceAccount"] == "sa"
    assert doc["metadata"]["annotations"] == {
        "istio.io/autoRegistrationGroup": "vm",
        "team": "blue",
        "istio.io/workloadController": "pilotfish-1",
        "istio.io/connectedAt": "2026-11-30T16:00:00.12Z",
        "proxy.istio.io/health-checks-enabled": "true",
    }
    without_probe = entry_from_group(_joining(), group, "pilotfish-1", NOW)
    assert "proxy.istio.io/health-checks-enabled" not in without_probe["metadata"]["annotations"]


def test_the_entry_takes_the_proxys_locality() -> None:
    group = {"metadata": {"name": "vm", "namespace": "vm"}, "spec": {"template": {}}}
    located = _joining(LABELS={"app": "vm", "istio-locality": "region2.zone3"})
    assert entry_from_group(located, group, "pilotfish-1", NOW)["spec"]["locality"] == (
        "region2/zone3"
    )
    assert "locality" not in entry_from_group(_joining(), group, "pilotfish-1", NOW)["spec"]


def test_a_proxy_without_a_group_or_node_id_of_ours_does_not_register() -> None:
    assert Joining.of("sidecar~10.1.2.3~host.vm~vm.svc.cluster.local", {}) is None
    assert Joining.of("garbage", {"AUTO_REGISTER_GROUP": "vm"}) is None


def test_only_the_groups_identity_may_control_its_entries() -> None:
    assert identity_problem(Identity("vm", "sa"), "vm", "sa") == ""
    assert identity_problem(Identity("vm", "any"), "vm", "") == ""  # no SA in the template
    assert "verified identity" in identity_problem(None, "vm", "sa")
    assert "namespace" in identity_problem(Identity("other", "sa"), "vm", "sa")
    assert "service account" in identity_problem(Identity("vm", "other"), "vm", "sa")


def test_health_conditions_replace_each_other_and_gate_readiness() -> None:
    annotations = {"proxy.istio.io/health-checks-enabled": "true"}
    doc: dict[str, object] = {"metadata": {"name": "e", "annotations": annotations}}
    assert not is_healthy(annotations, doc.get("status"))  # no condition yet: not healthy
    bad = with_condition(doc, False, "refused", "t1")
    assert bad["status"] == {
        "conditions": [
            {
                "type": "Healthy",
                "status": "False",
                "lastProbeTime": "t1",
                "lastTransitionTime": "t1",
                "message": "refused",
            }
        ]
    }
    assert not is_healthy(annotations, bad["status"])
    good = with_condition(bad, True, "", "t2")
    assert len(good["status"]["conditions"]) == 1
    assert is_healthy(annotations, good["status"])
    assert is_healthy({}, bad["status"])  # health checks not enabled: always healthy


def _entry(labels: dict[str, str], account: str | None, raw: Mapping[str, object]) -> object:
    spec = SimpleNamespace(
        address="10.0.0.9", labels=labels, service_account=account, ports={}, locality=None
    )
    meta = SimpleNamespace(
        kind="WorkloadEntry",
        name="e",
        namespace="vm",
        annotations=tuple(dict(raw.get("annotations", {})).items()),  # type: ignore[call-overload]
    )
    return SimpleNamespace(meta=meta, spec=spec, raw=raw)


def test_registry_mtls_and_readiness_of_entries_follow_istio() -> None:
    checked = {"annotations": {"proxy.istio.io/health-checks-enabled": "true"}}
    [with_sa, labelled_off, plain, unhealthy] = workload_entry_instances(
        [
            _entry({}, "sa", {}),
            _entry({"security.istio.io/tlsMode": "disabled"}, "sa", {}),
            _entry({}, None, {}),
            _entry({}, "sa", checked),
        ]
    )
    assert with_sa.sidecar and not labelled_off.sidecar and not plain.sidecar
    assert with_sa.ready and not unhealthy.ready


def test_bootstrap_tokens_expire_and_several_stay_valid(tmp_path: Path) -> None:
    now = [1000.0]
    tokens = TokenRegistry(tmp_path / "tokens.json", clock=lambda: now[0])
    first, expires = tokens.issue_bootstrap("vm", "vm", "sa", 60)
    second, _ = tokens.issue_bootstrap("vm", "vm", "sa", 600)
    assert expires == 1060.0
    assert tokens.authenticate(first) == (Identity("vm", "sa"), "workloadgroup/vm")
    assert tokens.authenticate(second)[0] == Identity("vm", "sa")
    reloaded = TokenRegistry(tmp_path / "tokens.json", clock=lambda: now[0])
    reloaded.load()
    now[0] = 1061.0
    with pytest.raises(Unauthenticated, match="expired"):
        reloaded.authenticate(first)
    assert reloaded.authenticate(second)[0] == Identity("vm", "sa")
    with pytest.raises(ValueError):
        tokens.issue_bootstrap("vm", "vm", "sa", 0)
    assert first not in (tmp_path / "tokens.json").read_text()


class _Store:
    """The control plane's change path, as the controller sees it: documents by kind."""

    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.docs = docs
        self.changes = 0

    def documents(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["kind"] == kind]

    async def change(
        self, docs: list[dict[str, Any]], keys: list[tuple[str, str, str, str]]
    ) -> bool:
        self.changes += 1
        named = {(d["metadata"]["namespace"], d["metadata"]["name"]) for d in docs}
        gone = {(k[2], k[3]) for k in keys}
        self.docs = [
            d
            for d in self.docs
            if (d["metadata"]["namespace"], d["metadata"]["name"]) not in named | gone
        ] + docs
        return True


GROUP_DOC = {
    "kind": "WorkloadGroup",
    "metadata": {"name": "vm", "namespace": "vm"},
    "spec": {"template": {"serviceAccount": "sa"}},
}
NODE = "sidecar~10.1.2.3~host.vm~vm.svc.cluster.local"
META = {
    "AUTO_REGISTER_GROUP": "vm",
    "NAMESPACE": "vm",
    "PROXY_CONFIG": {"readinessProbe": {"tcpSocket": {"port": 80}}},
}


async def _drain(controller: object, store: _Store, until: Callable[[], bool]) -> None:
    runner = asyncio.create_task(controller.run())  # type: ignore[attr-defined]
    for _ in range(200):
        await asyncio.sleep(0.01)
        if until():
            break
    runner.cancel()


def _controller(store: _Store, grace: float = 0.05) -> AutoRegistration:
    tokens = TokenRegistry(Path("/nonexistent/tokens.json"))
    return AutoRegistration(tokens, store.documents, store.change, "cp-1", grace=grace)


def test_two_streams_one_entry_removed_after_both_close_and_the_grace_period() -> None:
    store = _Store([dict(GROUP_DOC)])
    controller = _controller(store)
    me = Identity("vm", "sa")

    async def scenario() -> list[object]:
        seen: list[object] = []
        controller.connected(NODE, META, me)  # Envoy's stream
        controller.connected(NODE, META, me)  # the agent's health stream
        controller.health(NODE, False, "down")
        await _drain(controller, store, lambda: store.changes >= 3)
        entry = store.documents("WorkloadEntry")[0]
        seen.append(entry["status"]["conditions"][0]["status"])
        controller.disconnected(NODE, me)
        await _drain(controller, store, lambda: False)
        seen.append(len(store.documents("WorkloadEntry")))  # one stream left: kept, connected
        controller.disconnected(NODE, me)
        await _drain(controller, store, lambda: not store.documents("WorkloadEntry"))
        seen.append(len(store.documents("WorkloadEntry")))
        return seen

    assert asyncio.run(scenario()) == ["False", 1, 0]


def test_a_reconnect_within_the_grace_period_keeps_the_entry() -> None:
    store = _Store([dict(GROUP_DOC)])
    controller = _controller(store, grace=0.3)
    me = Identity("vm", "sa")

    async def scenario() -> dict[str, str]:
        controller.connected(NODE, META, me)
        controller.disconnected(NODE, me)
        controller.connected(NODE, META, me)
        await _drain(controller, store, lambda: False)  # past the grace period
        [entry] = store.documents("WorkloadEntry")
        return dict(entry["metadata"]["annotations"])

    annotations = asyncio.run(scenario())
    assert "istio.io/connectedAt" in annotations
    assert "istio.io/disconnectedAt" not in annotations


def test_refused_registrations_and_entries_left_from_before_a_restart() -> None:
    left = {
        "kind": "WorkloadEntry",
        "metadata": {"name": "vm-10.9.9.9", "namespace": "vm",
                     "annotations": {"istio.io/autoRegistrationGroup": "vm"}},
        "spec": {"address": "10.9.9.9"},
    }  # fmt: skip
    mine = {"kind": "WorkloadEntry", "metadata": {"name": "manual", "namespace": "vm"}, "spec": {}}
    store = _Store([dict(GROUP_DOC), left, mine])
    controller = _controller(store)

    async def scenario() -> None:
        controller.connected(NODE, META, None)  # plaintext: no verified identity
        controller.connected(NODE, META, Identity("vm", "other"))
        controller.connected(NODE, META | {"AUTO_REGISTER_GROUP": "nope"}, Identity("vm", "sa"))
        await _drain(controller, store, lambda: False)

    asyncio.run(scenario())
    assert controller.refused == 3
    assert [d["metadata"]["name"] for d in store.documents("WorkloadEntry")] == ["manual"]
