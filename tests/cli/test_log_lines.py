"""`kubectl logs` of one container (`cli.log_lines`) over the agent's log times
(`agent.container_log`): runs, `--previous`, `--tail`, `--since`, `--timestamps`, `--prefix`."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from pilotfish.agent.container_log import open_pipe, read_runs, times_path
from pilotfish.cli.log_lines import LogError, LogOptions, parse_duration, render, rfc3339nano

NS = 1_000_000_000


def write_log(path: Path, runs: list[list[tuple[bytes, int]]]) -> None:
    """A log and its times as the agent leaves them: each run's pieces with their arrival."""
    text, rows = b"", []
    for run in runs:
        rows.append(f"run {len(text)} {run[0][1] - 1}")
        for piece, at in run:
            text += piece
            rows.append(f"{len(text)} {at}")
    path.write_bytes(text)
    times_path(path).write_text("\n".join(rows) + "\n")


def test_durations_as_go_reads_them() -> None:
    assert parse_duration("10s") == 10 and parse_duration("5m") == 300
    assert parse_duration("1h30m") == 5400 and parse_duration("1.5h") == 5400
    assert parse_duration("250ms") == pytest.approx(0.25)
    for bad, why in (("5", "missing unit"), ("5x", 'unknown unit "x"'), ("", "invalid")):
        with pytest.raises(LogError, match=why):
            parse_duration(bad)


def test_rfc3339nano_drops_trailing_zeros() -> None:
    assert rfc3339nano(1_700_000_000 * NS + 120_000_000) == "2023-11-14T22:13:20.12Z"
    assert rfc3339nano(1_700_000_000 * NS) == "2023-11-14T22:13:20Z"
    assert rfc3339nano(1_700_000_000 * NS + 1) == "2023-11-14T22:13:20.000000001Z"


def test_current_run_previous_run_and_their_times(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    t0 = 1_700_000_000 * NS
    write_log(
        log,
        [
            [(b"a1\na2\n", t0), (b"a3\n", t0 + 5 * NS)],
            [(b"b1\nb", t0 + 9 * NS), (b"2\n", t0 + 10 * NS)],
        ],
    )
    runs = read_runs(log)
    assert runs is not None and [(r.start, r.end) for r in runs] == [(0, 9), (9, 15)]
    assert render(log, "p-0", "app", LogOptions()) == b"b1\nb2\n"
    assert render(log, "p-0", "app", LogOptions(previous=True)) == b"a1\na2\na3\n"
    stamped = render(log, "p-0", "app", LogOptions(timestamps=True, prefix=True))
    assert stamped == (
        b"[pod/p-0/app] 2023-11-14T22:13:29Z b1\n[pod/p-0/app] 2023-11-14T22:13:30Z b2\n"
    )  # a line is stamped with the piece that ended it
    assert render(log, "p-0", "app", LogOptions(previous=True, tail=1)) == b"a3\n"
    assert render(log, "p-0", "app", LogOptions(tail=0)) == b""


def test_since_keeps_the_newer_lines(tmp_path: Path) -> None:
    log = tmp_path / "envoy.log"
    now = time.time_ns()
    write_log(log, [[(b"old\n", now - 600 * NS), (b"new\n", now - 2 * NS)]])
    assert render(log, "p", "istio-proxy", LogOptions(since=60)) == b"new\n"
    assert render(log, "p", "istio-proxy", LogOptions(since=3600)) == b"old\nnew\n"


def test_no_previous_run_is_kubectls_error(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write_log(log, [[(b"x\n", NS)]])
    with pytest.raises(LogError) as refused:
        render(log, "sleep-0", "sleep", LogOptions(previous=True))
    assert str(refused.value) == (
        'Error from server (BadRequest): previous terminated container "sleep" in pod'
        ' "sleep-0" not found'
    )


def test_a_log_without_times_is_shown_whole_or_stamped_by_its_logger(tmp_path: Path) -> None:
    log = tmp_path / "controlplane.log"
    log.write_bytes(b"2023-11-14 22:13:20,500 INFO a\n  more\n")
    assert read_runs(log) is None
    assert render(log, "istiod-0", "discovery", LogOptions()) == log.read_bytes()
    stamped = render(log, "istiod-0", "discovery", LogOptions(timestamps=True), True)
    first, second = stamped.decode().splitlines()
    assert first.endswith("Z 2023-11-14 22:13:20,500 INFO a"), first
    assert second.split(" ", 1)[0] == first.split(" ", 1)[0]  # the line before's stamp
    with pytest.raises(LogError, match="kept without times"):
        render(log, "istiod-0", "discovery", LogOptions(since=5))


def test_the_pump_keeps_the_output_and_when_it_came(tmp_path: Path) -> None:
    """A real child writing through `open_pipe`: its bytes unchanged in the log, a run mark, and
    the arrival of each piece."""
    log = tmp_path / "app.log"
    log.write_bytes(b"earlier run\n")

    async def run() -> None:
        write_end = open_pipe(log, new_run=True)
        try:
            child = await asyncio.create_subprocess_exec(
                "sh", "-c", "echo one; sleep 0.3; echo two >&2", stdout=write_end, stderr=write_end
            )
        finally:
            os.close(write_end)
        await child.wait()
        for _ in range(100):  # the pump ends at the pipe's end
            if log.read_bytes().endswith(b"two\n"):
                break
            await asyncio.sleep(0.02)

    before = time.time_ns()
    asyncio.run(run())
    assert log.read_bytes() == b"earlier run\none\ntwo\n"
    runs = read_runs(log)
    assert runs is not None and len(runs) == 1 and runs[0].start == len(b"earlier run\n")
    (one_at, one), (two_at, two) = runs[0].lines(log.read_bytes())
    assert (one, two) == (b"one\n", b"two\n")
    assert before <= one_at and two_at - one_at >= 250_000_000, (one_at, two_at)
