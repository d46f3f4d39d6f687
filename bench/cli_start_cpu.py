"""CPU of the `pilotfish` command's start-up: what each `kubectl`/`istioctl` line of an
end-to-end test or a page pays before it does anything (imports, typer building its commands,
parsing), with no mesh running (each command stops at "no mesh").

    .venv/bin/python bench/cli_start_cpu.py [--runs 3]

Runs a fixed set of commands `--runs` times each, as new processes in an empty PILOTFISH_HOME,
and prints the user+system CPU per command (the children's rusage) and the wall per command.
Compare runs side by side in one sitting: the wall follows the machine's load, the CPU less so.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = (
    ("version",),
    ("get", "pods"),
    ("get", "vs", "-A"),
    ("exec", "sleep-0", "--", "true"),
    ("proxy-config", "cluster", "sleep-0"),
    ("apply", "-f", "samples/httpbin/httpbin.yaml", "--dry-run=client"),
    ("down",),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "PILOTFISH_HOME": home}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.monotonic()
        for _ in range(args.runs):
            for command in COMMANDS:
                subprocess.run(
                    [sys.executable, "-m", "pilotfish", *command],
                    env=env, cwd=ROOT, capture_output=True, check=False,
                )  # fmt: skip
        wall = time.monotonic() - began
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    count = args.runs * len(COMMANDS)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    print(
        f"{count} commands: {cpu / count:.3f} s CPU, {wall / count:.3f} s wall per command "
        f"(load {os.getloadavg()[0]:.1f})"
    )


if __name__ == "__main__":
    main()
