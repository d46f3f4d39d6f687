"""pilotfish's stand-in for the OpenTelemetry Collector images (`otel/opentelemetry-collector`,
`otel/opentelemetry-collector-contrib`; see pilotfish's image map), as Istio's OpenTelemetry
tasks deploy them (Istio's samples/open-telemetry/otel.yaml: a ConfigMap mounted at `/conf`,
`--config=/conf/opentelemetry-collector-config.yaml`).

It reads the collector config its `--config` names (a file, else the ConfigMap volume's file
that local mode hands over in `PILOTFISH_FILES`; `${env:VAR}` expanded) and runs what it can
of it: the `otlp` receivers (`protocols.grpc` and `protocols.http`, endpoints as written, OTLP's
ports 4317/4318 by default; `0.0.0.0` is the pod's own address) that a pipeline uses, taking
that pipeline's signal (traces, logs, metrics) through pilotfish's OTLP receiver
(`pilotfish.ui.otlp_receiver`: one implementation with the mesh's trace collector), and its
`debug` (or older `logging`) exporters, which print each export as the collector does
(`debug_exporter`): with `verbosity: detailed` (or `loglevel: debug`) every log record's
`Body:` and `Attributes:`. Other receivers, processors and exporters are named once at start
and not run (an `otlp` receiver that needs an `auth` extension is not started: no one could
pass its check). Without `--config`, the image's default: OTLP on 4317/4318 into a detailed
debug exporter. A config that cannot be read stops it with a message, as the collector stops.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from debug_exporter import export_text
from ruamel.yaml import YAML, YAMLError

from pilotfish.ui import otlp_receiver

FILES_ENV = "PILOTFISH_FILES"  # pilotfish.registry.config_volumes
DEFAULT = {
    "receivers": {"otlp": {"protocols": {"grpc": None, "http": None}}},
    "exporters": {"debug": {"verbosity": "detailed"}},
    "service": {"pipelines": {s: {"receivers": ["otlp"], "exporters": ["debug"]}
                              for s in ("traces", "logs", "metrics")}},
}  # fmt: skip
_ENV = re.compile(r"\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """A config the collector would refuse (the message says where)."""


@dataclass
class Plan:
    """What runs: (host, port, gRPC?) -> signal -> exporters (name, verbosity)."""

    listeners: dict[tuple[str, int, bool], dict[str, list[tuple[str, str]]]] = field(
        default_factory=dict
    )
    notes: list[str] = field(default_factory=list)


def read_config(paths: list[str], environ: dict[str, str]) -> dict[str, Any]:
    """The configs `--config` names, merged (later keys win), with `${env:VAR}` expanded."""
    if not paths:
        return DEFAULT
    mounted = json.loads(environ.get(FILES_ENV) or "{}")
    merged: dict[str, Any] = {}
    for path in paths:
        path = path.removeprefix("file:")
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        elif path in mounted:
            text = mounted[path]
        else:
            raise ConfigError(f"cannot read the configuration {path!r}: no such file")
        text = _ENV.sub(lambda m: environ.get(m.group(1), m.group(2) or ""), text)
        try:
            data = YAML(typ="safe", pure=True).load(text) or {}
        except YAMLError as exc:
            raise ConfigError(f"{path}: not YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: not a map of collector settings")
        _merge(merged, data)
    return merged


def _merge(into: dict[str, Any], data: dict[str, Any]) -> None:
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _address(endpoint: Any, port: int, environ: dict[str, str]) -> tuple[str, int]:
    """Where an endpoint listens here: `0.0.0.0`, `localhost` or none is the pod's address
    (`HOST`), a port the container's, as its agent maps it (`PORT_<port>`)."""
    host, _, number = str(endpoint or "").rpartition(":")
    if number.isdigit():
        port = int(number)
    if host in ("", "0.0.0.0", "localhost", "127.0.0.1", "[::]", "::"):
        host = environ.get("HOST") or "127.0.0.1"
    return host, int(environ.get(f"PORT_{port}") or port)


def plan(config: dict[str, Any], environ: dict[str, str]) -> Plan:
    found = Plan()
    receivers, exporters = _map(config.get("receivers")), _map(config.get("exporters"))
    pipelines = _map(_map(config.get("service")).get("pipelines"))
    for name, pipeline in sorted(pipelines.items()):
        signal_name = name.split("/")[0]
        if signal_name not in otlp_receiver.SIGNALS:
            found.notes.append(f"pipeline {name}: not run here")
            continue
        printers = []
        for exporter in _map(pipeline).get("exporters") or []:
            settings = _map(exporters.get(exporter))
            if exporter.split("/")[0] not in ("debug", "logging"):
                found.notes.append(f"pipeline {name}: exporter {exporter} is not run here")
                continue
            detailed = (
                settings.get("verbosity") == "detailed" or settings.get("loglevel") == "debug"
            )
            printers.append((exporter, "detailed" if detailed else "basic"))
        for receiver in _map(pipeline).get("receivers") or []:
            settings = _map(receivers.get(receiver))
            if receiver.split("/")[0] != "otlp":
                found.notes.append(f"pipeline {name}: receiver {receiver} is not run here")
                continue
            protocols = _map(settings.get("protocols"))
            for protocol, grpc, port in (("grpc", True, 4317), ("http", False, 4318)):
                if protocol not in protocols:
                    continue
                options = _map(protocols[protocol])
                if options.get("auth"):
                    found.notes.append(f"receiver {receiver} ({protocol}) needs an auth "
                                       "extension, which is not run here: not started")  # fmt: skip
                    continue
                host, real = _address(options.get("endpoint"), port, environ)
                signals = found.listeners.setdefault((host, real, grpc), {})
                signals.setdefault(signal_name, []).extend(printers)
    return found


def _printer(signal_name: str, exporters: list[tuple[str, str]]) -> Callable[[Any], None]:
    def export(request: Any) -> None:
        for name, verbosity in exporters:
            sys.stdout.write(export_text(signal_name, request, name, verbosity, time.time()))
        sys.stdout.flush()

    return export


async def serve(found: Plan) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    grpc_servers, runners = [], []
    for (host, port, grpc), signals in sorted(found.listeners.items()):
        handlers = {s: _printer(s, printers) for s, printers in signals.items()}
        if grpc:
            server, _ = otlp_receiver.grpc_server(handlers, host, port)
            await server.start()
            grpc_servers.append(server)
        else:
            app = web.Application(client_max_size=16 * 1024 * 1024)
            otlp_receiver.add_http_routes(app, handlers)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, host, port, reuse_address=True).start()
            runners.append(runner)
        kind = "gRPC" if grpc else "HTTP"
        print(f"Starting {kind} server\t{{\"endpoint\": \"{host}:{port}\", "
              f"\"signals\": {json.dumps(sorted(signals))}}}", flush=True)  # fmt: skip
    print("Everything is ready. Begin running and processing data.", flush=True)
    await stop.wait()
    for server in grpc_servers:
        await server.stop(1)
    for runner in runners:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="OpenTelemetry Collector stand-in (pilotfish)")
    parser.add_argument("--config", action="append", default=[])
    parser.add_argument("--feature-gates", action="append", default=[])  # accepted, unused
    args, _ = parser.parse_known_args(argv)
    environ = dict(os.environ)
    try:
        found = plan(read_config(args.config, environ), environ)
    except ConfigError as exc:
        print(f"Error: failed to get config: {exc}", file=sys.stderr, flush=True)
        return 1
    for note in found.notes:
        print(f"pilotfish stand-in: {note}", flush=True)
    if not found.listeners:
        print("Error: no otlp receiver in any pipeline: nothing to run", file=sys.stderr)
        return 1
    asyncio.run(serve(found))
    return 0


if __name__ == "__main__":
    sys.exit(main())
