"""`bug-report`'s choice of proxies from istioctl's `--include` / `--exclude` specs."""

from __future__ import annotations

from pilotfish.cli.bug_report import DEFAULT_EXCLUDE, chosen, namespaces_of


def test_the_namespace_part_of_istiocls_specs() -> None:
    assert namespaces_of(["ns1,ns2/dep*/pod/app=a", "foo", "/only-a-deployment"]) == [
        "ns1", "ns2", "foo"
    ]  # fmt: skip


def test_include_then_exclude_with_globs() -> None:
    assert chosen("default", [], [DEFAULT_EXCLUDE])
    assert not chosen("kube-system", [], [DEFAULT_EXCLUDE])
    assert chosen("bar", ["b*"], [])
    assert not chosen("default", ["b*"], [])
    assert not chosen("bar", ["b*"], ["bar"])  # the exclude spec applies after the include
    assert chosen("istio-system", ["default,istio-*"], [])
