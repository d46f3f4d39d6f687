"""YAML as kubectl prints it (`pilotfish.config.go_yaml`): go-yaml v2's choices, checked against
its own encode tests (go.yaml.in/yaml/v2 v2.4.2 `encode_test.go`: TestMarshal's string cases,
TestLineWrapping, TestSortedOutput) and against what `kubectl get -o yaml` shows of the API
server's fields, which objects shown without being stored carry too."""

from __future__ import annotations

import functools
import re
from typing import Any

import pytest

from pilotfish.config.go_yaml import dump_go_yaml, go_float, go_key_less, plain_is_string
from pilotfish.config.server_meta import MADE_UP_VERSION, as_served

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("hi", "v: hi\n"),
        ("true", 'v: "true"\n'),
        ("false", 'v: "false"\n'),
        ("10", 'v: "10"\n'),
        ("", 'v: ""\n'),
        ("-", "v: '-'\n"),
        ("<foo>", "v: <foo>\n"),
        ("1:1", 'v: "1:1"\n'),
        ("\x00", 'v: "\\0"\n'),
        ("你好", "v: 你好\n"),
        ("2015-02-24T18:19:39Z", 'v: "2015-02-24T18:19:39Z"\n'),
        ("b: c", "v: 'b: c'\n"),
        ("Hello #comment", "v: 'Hello #comment'\n"),
        ("你好 #comment", "v: '你好 #comment'\n"),
        ("B\nC", "v: |-\n  B\n  C\n"),
        # YAML 1.1 words and Go's number forms, which kubectl's reader would take otherwise
        ("yes", 'v: "yes"\n'),
        ("on", 'v: "on"\n'),
        ("~", 'v: "~"\n'),
        ("0x1F", 'v: "0x1F"\n'),
        ("0o17", 'v: "0o17"\n'),
        ("017", 'v: "017"\n'),
        ("1_000", 'v: "1_000"\n'),
        (".5", 'v: ".5"\n'),
        ("1e3", 'v: "1e3"\n'),
        ("+1", 'v: "+1"\n'),
        ("2026-12-03", 'v: "2026-12-03"\n'),
        ("2026-12-03T03:14:17", "v: 2026-12-03T03:14:17\n"),  # no zone: not a timestamp
        ("2026-13-03", "v: 2026-13-03\n"),  # no such month
        ("1.2.3", "v: 1.2.3\n"),
        ("*", "v: '*'\n"),
        ("it's: x", "v: 'it''s: x'\n"),
        (" lead", "v: ' lead'\n"),
        ("a\tb", 'v: "a\\tb"\n'),
        ("hi \U0001f600", 'v: "hi \\U0001F600"\n'),
        ("0b5d8e5c-1c9a-4f37-9d7a-3c1b1b2c3d4e", "v: 0b5d8e5c-1c9a-4f37-9d7a-3c1b1b2c3d4e\n"),
    ],
)
def test_strings_as_go_yaml_writes_them(value: str, expected: str) -> None:
    assert dump_go_yaml({"v": value}) == expected


def test_other_scalars_and_collections() -> None:
    values: list[object] = [True, False, 10, -10, 4294967296, 0.1, -0.1, 2.0, None, [], {}, "A"]
    data = {"v": values}
    assert dump_go_yaml(data) == (
        "v:\n- true\n- false\n- 10\n- -10\n- 4294967296\n- 0.1\n- -0.1\n- 2\n- null\n- []\n"
        "- {}\n- A\n"
    )
    assert dump_go_yaml({"v": ["A", 1, {"B": [2, 3]}]}) == "v:\n- A\n- 1\n- B:\n  - 2\n  - 3\n"
    assert dump_go_yaml({"a": {"b": "c"}}) == "a:\n  b: c\n"
    assert [go_float(f) for f in (1234567.5, 1e21, 1e-5, 100.25, float("inf"))] == [
        "1.2345675e+06", "1e+21", "1e-05", "100.25", ".inf"
    ]  # fmt: skip


def test_line_wrapping_at_80_columns() -> None:
    text = (
        "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 1234567890 "
        "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 1234567890 "
    )
    assert dump_go_yaml({"a": text}) == (
        "a: 'abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 1234567890 "
        "abcdefghijklmnopqrstuvwxyz\n  ABCDEFGHIJKLMNOPQRSTUVWXYZ 1234567890 '\n"
    )
    plain = dump_go_yaml({"long": "word " * 30 + "end"})
    assert plain.splitlines()[0] == "long: " + " ".join(["word"] * 16)  # broken once past 80


def test_keys_in_go_yamls_order() -> None:
    order = [
        "", ".1", ".2", ".a", "1", "2", "a!10", "a/0001", "a/002", "a/3", "a/10", "a/11",
        "a/0012", "a/100", "a~10", "ab/1", "b/1", "b/01", "b/2", "b/02", "b/3", "b/03", "b1",
        "b01", "b3", "c2.10", "c10.2", "d1", "d7", "d7abc", "d12", "d12a",
    ]  # fmt: skip
    less = functools.cmp_to_key(lambda a, b: -1 if go_key_less(str(a), str(b)) else 1)
    assert sorted(reversed(order), key=less) == order
    printed = dump_go_yaml(dict.fromkeys(reversed(order), 1))
    assert [line.split(":")[0].strip('"') for line in printed.splitlines()] == order
    assert dump_go_yaml({"port10": 1, "port9": 1, "aB": 1, "a_b": 1}) == (
        "a_b: 1\naB: 1\nport9: 1\nport10: 1\n"
    )


def test_the_api_servers_fields_as_kubectl_shows_them() -> None:
    meta = {
        "creationTimestamp": "2026-12-03T03:14:17Z",
        "resourceVersion": "123",
        "uid": "0b5d8e5c-1c9a-4f37-9d7a-3c1b1b2c3d4e",
        "generation": 1,
        "name": "reviews",
    }
    assert dump_go_yaml({"metadata": meta, "items": [], "kind": "List"}) == (
        "items: []\nkind: List\nmetadata:\n"
        '  creationTimestamp: "2026-12-03T03:14:17Z"\n  generation: 1\n  name: reviews\n'
        '  resourceVersion: "123"\n  uid: 0b5d8e5c-1c9a-4f37-9d7a-3c1b1b2c3d4e\n'
    )
    assert not plain_is_string("2026-12-03T03:14:17.123456+01:00")
    assert plain_is_string("v1.2") and plain_is_string("istio-system")


def test_objects_shown_without_being_stored_get_the_servers_fields() -> None:
    """`server_meta.as_served`: what `get` prints of a pod, istiod's Service, a namespace, ...
    carries a uid (the same at every get, another for another object), a resourceVersion and,
    for a Deployment, a generation; a stored object's own fields are kept."""
    pod: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "a-0", "namespace": "ns", "creationTimestamp": "2026-12-03T03:14:17Z"}}  # fmt: skip
    served = as_served(pod)
    meta = served["metadata"]
    assert UUID.match(meta["uid"]) and meta["resourceVersion"] == MADE_UP_VERSION
    assert "generation" not in meta and "uid" not in pod["metadata"]  # not changed in place
    assert as_served(pod) == served
    other = {**pod, "metadata": {**pod["metadata"], "name": "a-1"}}
    assert as_served(other)["metadata"]["uid"] != meta["uid"]
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "istiod"}}
    assert as_served(deployment)["metadata"]["generation"] == 1
    stored = {**pod, "metadata": {**pod["metadata"], "uid": "u", "resourceVersion": "7"}}
    assert as_served(stored) == stored
    assert 'resourceVersion: "1"' in dump_go_yaml(served)
