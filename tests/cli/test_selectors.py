"""kubectl's label selectors (`cli.selectors`): equality, inequality, set-based and existence
requirements, as apimachinery reads them; what it refuses is None."""

from __future__ import annotations

from pilotfish.cli.selectors import Selector, parse_selector

PODS = {
    "sleep": {"app": "sleep"},
    "httpbin-v1": {"app": "httpbin", "version": "v1"},
    "httpbin-v2": {"app": "httpbin", "version": "v2"},
}


def chosen(text: str) -> list[str]:
    selector = parse_selector(text)
    assert selector is not None, text
    return [name for name, labels in PODS.items() if selector.matches(labels)]


def test_every_requirement_kubectl_reads() -> None:
    assert chosen("app=httpbin") == ["httpbin-v1", "httpbin-v2"]
    assert chosen("app==httpbin,version=v2") == ["httpbin-v2"]
    assert chosen("app!=sleep") == ["httpbin-v1", "httpbin-v2"]
    assert chosen("version!=v1") == ["sleep", "httpbin-v2"]  # no label: `!=` matches
    assert chosen("app in (sleep, httpbin),version notin (v2)") == ["sleep", "httpbin-v1"]
    assert chosen("version") == ["httpbin-v1", "httpbin-v2"]
    assert chosen("!version") == ["sleep"]
    assert chosen("app=sleep,") == ["sleep"]


def test_what_kubectl_refuses() -> None:
    for bad in ("app in sleep", "=sleep", "app=a=b", "app in (a", ","):
        assert parse_selector(bad) is None, bad
    assert Selector().matches({"any": "thing"}) and not Selector()
    assert Selector.equal({"app": "sleep"}).matches(PODS["sleep"])
