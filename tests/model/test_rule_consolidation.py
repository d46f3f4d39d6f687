"""DestinationRules consolidated and picked as istiod does (`model.destination_rules`): the cases
of Istio's own tests (`TestSetDestinationRuleWithWorkloadSelector`, `TestSetDestinationRule
Merging`, `TestCreateSidecarScope`'s workload-selector cases), and the selection a proxy gets
through `PushContext.destination_rule_for`."""

from __future__ import annotations

from typing import Any

from pilotfish.config import load
from pilotfish.model.destination_rules import RuleIndex, pick
from pilotfish.model.push_context import PushContext
from pilotfish.registry.types import RegistrySnapshot

HOST = "httpbin.org"


def dr(
    name: str,
    namespace: str = "test",
    *,
    selector: str = "",
    export_to: str = "",
    subsets: str = "",
    policy: str = "",
    created: str = "2026-01-01T00:00:00Z",
    host: str = HOST,
) -> str:
    lines = [
        "apiVersion: networking.istio.io/v1",
        "kind: DestinationRule",
        f"metadata: {{name: {name}, namespace: {namespace}, creationTimestamp: '{created}'}}",
        "spec:",
        f"  host: {host}",
    ]
    if selector:
        lines.append(f"  workloadSelector: {{matchLabels: {{{selector}}}}}")
    if export_to:
        lines.append(f"  exportTo: [{export_to}]")
    if subsets:
        lines.append("  subsets: [" + ", ".join(f"{{name: {s}}}" for s in subsets.split()) + "]")
    if policy:
        lines.append(f"  trafficPolicy: {policy}")
    return "\n".join(lines) + "\n"


def _rules(*docs: str) -> list[Any]:
    result = load("---\n".join(docs), "rules.yaml")
    assert result.ok, [str(d) for d in result.diagnostics]
    return list(result.objects)


def _index(*docs: str, default: tuple[str, ...] = ()) -> RuleIndex:
    return RuleIndex(_rules(*docs), default, "istio-system")


def _names(entries: Any) -> list[str]:
    return [e.rule.meta.name for e in entries]


def _max_connections(rule: Any) -> int:
    return int(rule.spec.traffic_policy.connection_pool.tcp.max_connections)


def _from(entries: Any) -> dict[str, list[str]]:
    return {e.rule.meta.name: [s.meta.name for s in e.sources] for e in entries}


POOL_1 = "{connectionPool: {tcp: {maxConnections: 111}}}"
POOL_33 = "{connectionPool: {tcp: {connectTimeout: 33s}}}"
APP1 = dr("ns-rule1", selector="app: app1", export_to=".", policy=POOL_1)
APP2 = dr("ns-rule2", selector="app: app2", export_to=".", policy=POOL_33,
          created="2026-01-01T00:00:01Z")  # fmt: skip
APP3 = dr("ns-rule3", selector="app: app2", export_to=".", policy=POOL_33,
          created="2026-01-01T00:00:01Z")  # fmt: skip
NAMESPACE_WIDE = dr("ns-rule4", export_to="., test2", policy=POOL_33, subsets="all",
                    created="2025-12-31T23:59:59Z")  # fmt: skip


def test_rules_with_selectors_come_first_and_take_a_catch_all_exported_to_their_namespace() -> None:
    """Istio's TestSetDestinationRuleWithWorkloadSelector (its selected rules export to
    `test2, .`, which the webhook refuses; a selector makes it `.` either way): the catch-all
    is older, yet the
    selected rules are ordered first; it merges into each (its exportTo holds `.`) and stays an
    entry of its own; ns-rule3 has ns-rule2's selector: merged into it, no entry of its own."""
    index = _index(APP1, APP2, APP3, NAMESPACE_WIDE)
    local = index.candidates(HOST, "test", "test")
    assert _names(local) == ["ns-rule1", "ns-rule2", "ns-rule4"]
    assert _from(local) == {
        "ns-rule1": ["ns-rule1", "ns-rule4"],
        "ns-rule2": ["ns-rule2", "ns-rule3", "ns-rule4"],
        "ns-rule4": ["ns-rule4"],
    }
    merged = local[0].rule.spec
    assert [s.name for s in merged.subsets] == ["all"]  # the catch-all's subsets
    assert _max_connections(local[0].rule) == 111  # its own policy
    # "workload specific DR should not be exported"
    assert _names(index.candidates(HOST, "test2", "test")) == ["ns-rule4"]


def test_a_catch_all_with_no_export_to_is_not_merged_into_selected_rules() -> None:
    """Enhanced merge: an empty exportTo is no superset of a selected rule's `.`."""
    index = _index(dr("sel", selector="app: a", policy=POOL_1), dr("all", subsets="v1 v2"))
    local = index.candidates(HOST, "test", "test")
    assert _from(local) == {"sel": ["sel"], "all": ["all"]}
    assert local[0].rule.spec.subsets == ()


def test_rules_without_selectors_merge_subsets_and_keep_the_first_policy() -> None:
    """Istio's TestSetDestinationRuleMerging (default exportTo `*`)."""
    index = _index(
        dr("rule1", subsets="subset1 subset2"),
        dr("rule2", subsets="subset3 subset4", policy=POOL_1),
        dr("rule3", subsets="subset5 subset6", export_to="istio-system"),
    )
    local = index.local["test"].match(HOST)
    exported = index.exported["test"].match(HOST)
    assert local is not None and exported is not None
    assert _from(local) == {"rule1": ["rule1", "rule2"]}
    assert _from(exported) == {"rule1": ["rule1", "rule2"], "rule3": ["rule3"]}
    assert [s.name for s in local[0].rule.spec.subsets] == [f"subset{i}" for i in range(1, 5)]
    assert _max_connections(local[0].rule) == 111
    assert [s.name for s in exported[1].rule.spec.subsets] == ["subset5", "subset6"]
    assert exported[1].export_to == frozenset({"istio-system"})


SIDECAR_DR1 = dr("dr-rule1", "mynamespace", selector="app: app1", policy=POOL_33)
SIDECAR_DR2 = dr("dr-rule2", "mynamespace", selector="app: app2", policy=POOL_33)
SIDECAR_DR3 = dr("dr-rule3", "mynamespace", selector="app: app1", subsets="subset1 subset2")
CATCH_ALL = dr("dr-rule3", "mynamespace", policy=POOL_33)


def _picked(labels: dict[str, str], *docs: str, namespace: str = "mynamespace") -> str | None:
    push = PushContext(RegistrySnapshot(), tuple(_rules(*docs)))
    found = push.destination_rule_for(HOST, namespace, labels, "mynamespace")
    return None if found is None else found.meta.name


def test_the_rule_a_proxy_gets_is_the_first_its_labels_select_else_the_catch_all() -> None:
    """Istio's TestCreateSidecarScope cases (SidecarScope.DestinationRule)."""
    rules = (SIDECAR_DR1, SIDECAR_DR2, CATCH_ALL.replace("dr-rule3", "catch-all"))
    assert _picked({"app": "app2"}, *rules) == "dr-rule2"
    assert _picked({"app": "app1", "v": "1"}, *rules) == "dr-rule1"
    assert _picked({"app": "other"}, *rules) == "catch-all"
    push = PushContext(RegistrySnapshot(), tuple(_rules(SIDECAR_DR1, SIDECAR_DR3)))
    merged = push.destination_rule_for(HOST, "mynamespace", {"app": "app1"}, "mynamespace")
    assert merged is not None and merged.meta.name == "dr-rule1"  # same selector: merged
    assert [s.name for s in merged.spec.subsets] == ["subset1", "subset2"]
    assert merged.spec.traffic_policy is not None  # dr-rule1's


def test_a_namespace_with_only_a_selected_rule_hides_the_service_namespace_rule() -> None:
    """A proxy its selector does not select gets no rule at all: the first namespace with a
    match for the host (its own) decides, and holds no catch-all (Istio)."""
    service_ns = dr("svc-rule", "mynamespace", policy=POOL_1)
    selected = dr("mine", "client", selector="app: curl", policy=POOL_33)
    assert _picked({"app": "curl"}, service_ns, selected, namespace="client") == "mine"
    assert _picked({"app": "other"}, service_ns, selected, namespace="client") is None
    assert _picked({"app": "curl"}, service_ns, selected, namespace="elsewhere") == "svc-rule"


def test_a_selector_never_applies_across_namespaces() -> None:
    selected = dr("mine", "mynamespace", selector="app: curl")
    assert _picked({"app": "curl"}, selected, namespace="client") is None
    entries = _index(selected).candidates(HOST, "mynamespace", "mynamespace")
    assert pick(entries, "client", ((("app", "curl"),),)) is None


def test_an_empty_selector_selects_every_workload_of_its_namespace() -> None:
    every = dr("every", policy=POOL_1).replace("spec:\n", "spec:\n  workloadSelector: {}\n")
    rules = (every, dr("all"))
    assert _picked({"app": "x"}, *rules, namespace="test") == "every"


def test_selection_names_the_selectors_a_proxy_satisfies() -> None:
    push = PushContext(RegistrySnapshot(), tuple(_rules(SIDECAR_DR1, SIDECAR_DR2)))
    assert push.rule_selection_of("mynamespace", {"app": "app1"}) == ((("app", "app1"),),)
    assert push.rule_selection_of("mynamespace", {"app": "none"}) == ()
    assert push.rule_selection_of("other", {"app": "app1"}) == ()


def test_merged_rules_are_the_same_objects_in_the_next_index() -> None:
    rules = _rules(dr("a", subsets="v1"), dr("b", subsets="v2"))
    first = RuleIndex(rules, (), "istio-system")
    second = RuleIndex(rules, (), "istio-system", first)
    one, two = (i.candidates(HOST, "test", "test")[0].rule for i in (first, second))
    assert one is two and [s.name for s in one.spec.subsets] == ["v1", "v2"]
