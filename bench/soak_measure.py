"""What the soak measures: the load through the ingress (keep-alive workers at a constant
rate), the check of every product page against the routing rule in force, the table per fault
class, and the access-log evidence of where each failure came from. `bench/soak.py` drives the
faults; tests/e2e/test_churn.py uses these pieces directly."""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SERVED_BY = re.compile(r"Reviews served by:\s*<u>reviews-(v\d)-\d+</u>")
ALL = frozenset({"v1", "v2", "v3"})


@dataclass
class Outcome:
    started: float
    latency: float
    status: int
    problem: str  # "" when the page is complete and as the rule says
    version: str


@dataclass
class Timeline:
    """Which reviews versions are allowed when: (applied from, converged at, old, new)."""

    changes: list[tuple[float, float, frozenset[str], frozenset[str]]] = field(default_factory=list)
    current: frozenset[str] = ALL
    lock: threading.Lock = field(default_factory=threading.Lock)

    def allowed(self, started: float, ended: float) -> frozenset[str]:
        with self.lock:
            base, overlapping = ALL, set[str]()
            for begin, converged, old, new in self.changes:  # in the order applied
                if converged and converged <= started:
                    base = new  # in force for the whole request
                elif begin <= ended:
                    overlapping |= old | new  # being applied meanwhile: either is fine
            return frozenset(base | overlapping)


def check_page(status: int, body: str) -> tuple[str, str]:
    """(problem, reviews version) of one product page; problem "" means complete."""
    if status != 200:
        return f"status {status}", ""
    for needle, problem in (
        ("Error fetching product details", "details error"),
        ("Error fetching product reviews", "reviews error"),
        ("Ratings service is currently unavailable", "ratings error"),
    ):
        if needle in body:
            return problem, ""
    if "<h4>Book Details</h4>" not in body or "<h4>Book Reviews</h4>" not in body:
        return "section missing", ""
    match = SERVED_BY.search(body)
    if match is None:
        return "no reviews pod", ""
    version = match.group(1)
    if version in ("v2", "v3") and "star full" not in body:
        return "no stars", version
    return "", version


class Load:
    """`workers` threads, each with its own keep-alive connection (as a browser), together
    about `rate` pages per second."""

    def __init__(self, ingress: str, rate: float, workers: int, timeline: Timeline) -> None:
        self.ingress, self.rate, self.workers, self.timeline = ingress, rate, workers, timeline
        self.outcomes: list[Outcome] = []
        self.stop = threading.Event()
        self.in_flight = 0
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(workers)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(30)

    def _run(self) -> None:
        interval = self.workers / self.rate
        conn: http.client.HTTPConnection | None = None
        next_at = time.monotonic()
        while not self.stop.is_set():
            next_at += interval
            if conn is None:
                conn = http.client.HTTPConnection(self.ingress, 8080, timeout=30)
            started = time.monotonic()
            with self._lock:
                self.in_flight += 1
            try:
                conn.request("GET", "/productpage")
                resp = conn.getresponse()
                status, body = resp.status, resp.read().decode(errors="replace")
                if resp.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                status, body = 0, type(exc).__name__
                if conn is not None:
                    conn.close()
                conn = None
            ended = time.monotonic()
            with self._lock:
                self.in_flight -= 1
            problem, version = check_page(status, body)
            if status == 0:
                problem = f"connection: {body}"
            if not problem and version not in self.timeline.allowed(started, ended):
                problem = f"reviews {version} not allowed by the rule"
            with self._lock:
                self.outcomes.append(Outcome(started, ended - started, status, problem, version))
            if status == 0:  # no catching up on a schedule missed while nothing answered:
                next_at = max(next_at, time.monotonic())  # failures = rate x time down
            self.stop.wait(max(0.0, next_at - time.monotonic()))


def access_log_report(home: Path, phases: list[tuple[str, float, float]]) -> list[str]:
    """Every access log entry of every Envoy under `home` that is not a 200 without response
    flags, counted by (phase, pod, code, flags, details); phases are monotonic times, the log's
    start times wall-clock."""
    offset = time.time() - time.monotonic()
    counts: Counter[tuple[str, str, str, str, str]] = Counter()
    for path in sorted(home.glob("**/envoy.log")):
        with path.open(errors="replace") as handle:
            for line in handle:
                if not line.startswith("{"):
                    continue
                try:
                    entry = json.loads(line)
                    code, flags = str(entry["response_code"]), str(entry["response_flags"])
                    started = _wall(str(entry["start_time"])) - offset
                except (ValueError, KeyError, TypeError):
                    continue
                if code == "200" and flags in ("-", "None", ""):
                    continue
                phase = next((k for k, a, b in phases if a <= started < b), "outside phases")
                details = str(entry.get("response_code_details"))
                counts[(phase, path.parent.name, code, flags, details)] += 1
    return [
        f"access log: {phase}: {pod} {code} {flags} {details} x{n}"
        for (phase, pod, code, flags, details), n in sorted(counts.items())
    ]


def _wall(start_time: str) -> float:
    """Envoy's %START_TIME% (2026-11-30T21:58:42.123Z) as a Unix time."""
    from datetime import datetime

    return datetime.fromisoformat(start_time.replace("Z", "+00:00")).timestamp()


def summarize(
    outcomes: list[Outcome], phases: list[tuple[str, float, float]]
) -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = {}
    for outcome in outcomes:
        # a request counts where it started; one that failed, where it failed (a kill at the
        # start of a phase cuts requests that started in the one before)
        at = outcome.started + (outcome.latency if outcome.problem else 0.0)
        kind = next((k for k, a, b in phases if a <= at < b), phases[-1][0] if phases else "?")
        row = table.setdefault(
            kind, {"requests": 0, "failed": 0, "degraded": 0, "worst_ms": 0.0, "problems": {}}
        )
        row["requests"] += 1
        if outcome.problem:
            row["failed" if outcome.status != 200 else "degraded"] += 1
            row["problems"] = dict(Counter(row["problems"]) + Counter([outcome.problem]))
        row["worst_ms"] = max(row["worst_ms"], round(outcome.latency * 1000, 1))
    return table


def render(table: dict[str, dict[str, Any]]) -> str:
    lines = [f"{'fault class':16} {'requests':>9} {'failed':>7} {'degraded':>9} {'worst ms':>9}"]
    for kind, row in table.items():
        lines.append(
            f"{kind:16} {row['requests']:9d} {row['failed']:7d} {row['degraded']:9d} "
            f"{row['worst_ms']:9.0f}  {row['problems'] or ''}"
        )
    return "\n".join(lines)
