"""Istio's iptables rules for a pod, pinned by golden files (`testdata/<case>.golden`), one case
per `traffic.sidecar.istio.io/*` annotation; regenerate with `pytest --update-goldens` and
review the diff. Bad annotations are refused with the annotation's name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pilotfish.capture.rules import (
    EXCLUDE_INBOUND_PORTS,
    EXCLUDE_OUTBOUND_IP_RANGES,
    EXCLUDE_OUTBOUND_PORTS,
    INCLUDE_INBOUND_PORTS,
    INCLUDE_OUTBOUND_IP_RANGES,
    INCLUDE_OUTBOUND_PORTS,
    CaptureError,
    nat_rules,
    settings_for,
)

TESTDATA = Path(__file__).parent / "testdata"

CASES: dict[str, dict[str, str]] = {
    "default": {},
    "exclude-inbound-ports": {EXCLUDE_INBOUND_PORTS: "22, 9443"},
    "include-inbound-ports": {INCLUDE_INBOUND_PORTS: "9080,9443"},
    "include-inbound-ports-none": {INCLUDE_INBOUND_PORTS: ""},
    "exclude-outbound-ports": {EXCLUDE_OUTBOUND_PORTS: "5432"},
    "exclude-outbound-ports-many": {EXCLUDE_OUTBOUND_PORTS: "22,80,443"},
    "exclude-outbound-ip-ranges": {EXCLUDE_OUTBOUND_IP_RANGES: "10.96.0.0/12,192.168.1.7"},
    "include-outbound-ip-ranges": {INCLUDE_OUTBOUND_IP_RANGES: "10.0.0.0/8"},
    "include-outbound-ip-ranges-none": {INCLUDE_OUTBOUND_IP_RANGES: ""},
    # Istio's outbound-ports-include.golden: each port to ISTIO_REDIRECT after the exclusions
    "include-outbound-ports": {
        INCLUDE_OUTBOUND_PORTS: "32000,31000",
        INCLUDE_OUTBOUND_IP_RANGES: "",
    },
    "all-annotations": {
        EXCLUDE_INBOUND_PORTS: "22",
        EXCLUDE_OUTBOUND_PORTS: "3306",
        EXCLUDE_OUTBOUND_IP_RANGES: "10.1.0.0/16",
        INCLUDE_OUTBOUND_IP_RANGES: "10.0.0.0/8,172.16.0.0/12",
    },
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_rules_match_golden(case: str) -> None:
    text = nat_rules(settings_for(CASES[case]))
    golden = TESTDATA / f"{case}.golden"
    if os.environ.get("UPDATE_GOLDENS") == "1":
        golden.write_text(text)
    assert text == golden.read_text()


def test_default_is_istios_injection() -> None:
    """The shape `istio-iptables -p 15001 -z 15006 -u 1337 -m REDIRECT -i '*' -x '' -b '*'
    -d 15090,15021,15020` gives (Istio's own goldens, with the exclusions)."""
    text = nat_rules(settings_for({}))
    assert "-A ISTIO_INBOUND -p tcp -m multiport --dports 15090,15021,15020 -j RETURN\n" in text
    assert "-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n" in text
    assert "-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006\n" in text
    assert text.index("-m owner --uid-owner 1337 -j RETURN") < text.index(
        "-A ISTIO_OUTPUT -j ISTIO_REDIRECT"
    )
    assert text.rstrip().endswith("-A ISTIO_OUTPUT -j ISTIO_REDIRECT\nCOMMIT")


def test_excluded_inbound_ports_add_to_istios() -> None:
    settings = settings_for({EXCLUDE_INBOUND_PORTS: "22,15020"})
    assert settings.exclude_inbound_ports == (15090, 15021, 15020, 22)


@pytest.mark.parametrize(
    ("annotation", "value", "expected"),
    [
        (EXCLUDE_INBOUND_PORTS, "ssh", "'ssh' is not a port"),
        (EXCLUDE_OUTBOUND_PORTS, "70000", "'70000' is not a port"),
        (INCLUDE_INBOUND_PORTS, "9080,*", "'*' is not a port"),
        (EXCLUDE_OUTBOUND_IP_RANGES, "10.0.0.0/33", "is not an IP range"),
        (EXCLUDE_OUTBOUND_IP_RANGES, "*", "'*' is not an IP range"),
        (INCLUDE_OUTBOUND_IP_RANGES, "fd00::/8", "only IPv4"),
    ],
)
def test_bad_annotations_name_the_annotation(annotation: str, value: str, expected: str) -> None:
    with pytest.raises(CaptureError) as info:
        settings_for({annotation: value})
    assert annotation in str(info.value)
    assert expected in str(info.value)
