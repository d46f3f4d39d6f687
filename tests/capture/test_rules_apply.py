"""The golden rules load into a real namespace's nat table with `pilotfish iptables --netns`
(iptables-restore accepts every line) and the host's own tables are untouched. Root only."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pilotfish.capture.rules import nat_rules, settings_for

TESTDATA = Path(__file__).parent / "testdata"

pytestmark = [
    pytest.mark.host_network,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("iptables-restore") is None,
        reason="needs root and iptables (network namespaces); CI runs as root",
    ),
]


def _sh(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def host_tables() -> str:
    """The host's iptables, without iptables-save's time-stamped comments."""
    text = _sh("iptables-save")
    return "\n".join(line for line in text.splitlines() if not line.startswith("#"))


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"pftest-rules-{os.getpid()}"
    _sh("ip", "netns", "add", name)
    try:
        yield name
    finally:
        _sh("ip", "netns", "del", name)


def _by_chain(rules: list[str]) -> dict[str, list[str]]:
    chains: dict[str, list[str]] = {}
    for rule in rules:
        chains.setdefault(rule.split()[1], []).append(rule.split(" -j ")[-1])
    return chains


@pytest.mark.parametrize("golden", sorted(p.name for p in TESTDATA.glob("*.golden")))
def test_golden_rules_load_in_a_namespace(netns: str, golden: str) -> None:
    host_before = host_tables()
    expected = (TESTDATA / golden).read_text()
    subprocess.run(
        ["ip", "netns", "exec", netns, "iptables-restore"], input=expected, text=True, check=True
    )
    saved = _sh("ip", "netns", "exec", netns, "iptables-save", "-t", "nat")
    rules = [line for line in expected.splitlines() if line.startswith("-A ")]
    # iptables-save prints what the kernel holds, chain by chain (`--dport` becomes `-m tcp
    # --dport`...): compare each chain's rules, in order, by their targets
    saved_rules = [line for line in saved.splitlines() if line.startswith("-A ")]
    assert _by_chain(saved_rules) == _by_chain(rules)
    assert host_tables() == host_before


def test_cli_installs_default_rules(netns: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pilotfish", "iptables", "--netns", netns], check=True, text=True
    )
    dry = subprocess.run(
        [sys.executable, "-m", "pilotfish", "iptables", "--dry-run"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert dry.stdout == (TESTDATA / "default.golden").read_text()
    saved = _sh("ip", "netns", "exec", netns, "iptables-save", "-t", "nat")
    assert "-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001" in saved
    assert "-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006" in saved
    assert "--gid-owner 1337 -j RETURN" in saved


def test_service_chains_follow_istios_and_are_replaced_whole(netns: str) -> None:
    """kube-proxy's chains go in after Istio's (OUTPUT: ISTIO_OUTPUT, then KUBE-SERVICES), and
    a later `--noflush` update replaces both tables' KUBE-SERVICES and nothing else."""
    inside = ["ip", "netns", "exec", netns]
    subprocess.run(
        [*inside, "iptables-restore"], input=nat_rules(settings_for({})), text=True, check=True
    )
    first = (TESTDATA / "services" / "pod-first-install.golden").read_text()
    subprocess.run([*inside, "iptables-restore", "--noflush"], input=first, text=True, check=True)
    update = (TESTDATA / "services" / "pod-is-an-endpoint.golden").read_text()
    subprocess.run([*inside, "iptables-restore", "--noflush"], input=update, text=True, check=True)
    nat = [
        line
        for line in _sh(*inside, "iptables-save", "-t", "nat").splitlines()
        if line.startswith("-A ")
    ]
    assert [r for r in nat if r.startswith("-A OUTPUT")] == [
        "-A OUTPUT -j ISTIO_OUTPUT",
        "-A OUTPUT -j KUBE-SERVICES",
    ]
    istio = [
        line for line in nat_rules(settings_for({})).splitlines() if line.startswith("-A ISTIO")
    ]
    assert _by_chain([r for r in nat if r.split()[1].startswith("ISTIO")]) == _by_chain(istio)
    dnat = [r.split("--to-destination ")[1] for r in nat if r.startswith("-A KUBE-SERVICES")]
    assert dnat == ["10.7.0.5:9080", "10.7.0.7:9080"]  # the update's only, this pod left out
    saved = _sh(*inside, "iptables-save", "-t", "filter")
    assert "-A OUTPUT -j KUBE-SERVICES" in saved and "REJECT" not in saved
