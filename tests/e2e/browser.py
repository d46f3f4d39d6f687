"""Headless Chromium (Debian's `chromium`) for the UI tests: load a page, let its scripts run,
and read back the DOM or a screenshot. Each run has a fresh profile under the test's tmp dir,
no proxy, no background networking; the browser's process group is always ended."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--no-proxy-server",
    "--disable-dev-shm-usage", "--hide-scrollbars",
)  # fmt: skip


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "Debian's chromium is needed (apt-get install chromium; .ci/run installs it)"
    return path


def _run(args: list[str], profile: Path, timeout: float = 90) -> str:
    profile.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return out


def dump_dom(url: str, tmp: Path, budget_ms: int = 6000, size: str = "1400,900") -> str:
    """The page's DOM once its scripts have run for `budget_ms` of virtual time."""
    args = [f"--window-size={size}", f"--virtual-time-budget={budget_ms}", "--dump-dom", url]
    return _run(args, tmp / "chromium-profile")


def screenshot(
    url: str, out: Path, tmp: Path, budget_ms: int = 6000, size: str = "1400,900"
) -> Path:
    args = [
        f"--window-size={size}",
        f"--virtual-time-budget={budget_ms}",
        f"--screenshot={out}",
        url,
    ]
    _run(args, tmp / "chromium-profile")
    assert out.is_file() and out.stat().st_size > 10_000, f"no screenshot at {out}"
    return out


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: list[str] = field(default_factory=list)


class Dom(HTMLParser):
    """Every element with its attributes (and the text directly inside it)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: list[Element] = []
        self._open: list[Element] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.elements.append(element)
        self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            if self._open.pop().tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._open and data.strip():
            self._open[-1].text.append(data.strip())

    def having(self, cls: str = "", **attrs: str) -> list[Element]:
        return [
            e for e in self.elements
            if (not cls or cls in e.attrs.get("class", "").split())
            and all(e.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]  # fmt: skip
