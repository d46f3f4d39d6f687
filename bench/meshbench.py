"""Shared helpers for benchmarks that run a real local mesh (not a test: prints numbers)."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    system = f"{platform.system()} {platform.release()}"
    return f"{os.cpu_count()} cores, {cpu}, {system}, Python {platform.python_version()}"


class BenchMesh:
    """A mesh in a temporary PILOTFISH_HOME, started detached and always stopped."""

    def __init__(self, ingress: str = "127.254.7.7") -> None:
        self.home = Path(tempfile.mkdtemp(prefix="pilotfish-bench-"))
        self.ingress = ingress
        self.env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        self.env["PILOTFISH_HOME"] = str(self.home)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "pilotfish", *args],
            env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise RuntimeError(
                f"pilotfish {' '.join(args)} failed:\n{result.stdout}{result.stderr}"
            )
        return result

    @property
    def info(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.home / "run" / "mesh.json").read_text())
        return data

    def proxy(self, workload: str) -> dict[str, Any]:
        for proxy in self.info["proxies"].values():
            if proxy["workload"] == workload:
                return dict(proxy)
        raise KeyError(workload)

    def wait_proxy(self, workload: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                return self.proxy(workload)
            except (KeyError, OSError, ValueError):
                time.sleep(0.1)
        raise TimeoutError(workload)

    def down(self) -> None:
        self.run("down", check=False)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def get_status(url: str, proxy: str | None = None, timeout: float = 2) -> int:
    handlers = [urllib.request.ProxyHandler({"http": proxy} if proxy else {})]
    try:
        with urllib.request.build_opener(*handlers).open(url, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except OSError:
        return 0


def hey(
    url: str, seconds: int, concurrency: int, rate_per_worker: int | None, proxy: str | None
) -> dict[str, float]:
    """Run `hey` and parse requests/s and latency percentiles (ms)."""
    argv = ["hey", "-z", f"{seconds}s", "-c", str(concurrency), "-disable-keepalive=false"]
    if rate_per_worker:
        argv += ["-q", str(rate_per_worker)]
    if proxy:
        argv += ["-x", proxy]
    out = subprocess.run([*argv, url], capture_output=True, text=True, timeout=seconds + 60).stdout
    result = {"rps": _number(r"Requests/sec:\s+([\d.]+)", out)}
    for pct in ("50", "90", "99"):
        result[f"p{pct}_ms"] = _number(rf"{pct}% in ([\d.]+) secs", out) * 1000
    codes = re.findall(r"\[(\d{3})\]\s+(\d+) responses", out)
    result["non_200"] = float(sum(int(n) for c, n in codes if c != "200"))
    result["total"] = float(sum(int(n) for _, n in codes))
    # requests that got no HTTP answer at all (connection reset or closed under the request)
    failed = out.split("Error distribution:", 1)[1] if "Error distribution:" in out else ""
    result["errors"] = float(sum(int(n) for n in re.findall(r"^\s*\[(\d+)\]", failed, re.M)))
    return result


def _number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    return float(match.group(1)) if match else float("nan")
