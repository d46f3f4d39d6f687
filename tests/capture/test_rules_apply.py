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
