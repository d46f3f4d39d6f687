"""How children start (`agent.processes.setpriv_prefix`): with the death signal always, a group
for the agent's own helpers, and for a captured pod's Envoy Istio's istio-proxy user."""

from __future__ import annotations

import shutil

import pytest

from pilotfish.agent.processes import FILE_CAPS, setpriv_prefix


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="util-linux's setpriv is missing")
def test_setpriv_words() -> None:
    plain = setpriv_prefix(None)
    assert plain is not None and plain[1:] == ["--pdeathsig", "KILL", "--"]
    grouped = setpriv_prefix(1337)
    assert grouped is not None and grouped[1:] == [
        "--pdeathsig", "KILL", "--regid", "1337", "--keep-groups", "--",
    ]  # fmt: skip
    proxy = setpriv_prefix(1337, 1337)
    assert proxy is not None and proxy[1:] == [
        "--pdeathsig", "KILL", "--reuid", "1337", "--regid", "1337", "--clear-groups",
        "--inh-caps", FILE_CAPS, "--ambient-caps", FILE_CAPS, "--",
    ]  # fmt: skip
    assert FILE_CAPS == "+dac_override,+dac_read_search"  # file access, nothing else of root's


def test_another_user_needs_setpriv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert setpriv_prefix(1337) is None  # a pre-exec hook sets the group instead
    with pytest.raises(OSError, match="setpriv"):
        setpriv_prefix(1337, 1337)
