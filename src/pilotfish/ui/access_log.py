"""Istio's access log lines read back: the default text format (and Istio's JSON encoding) into
`Entry`s, and the test of whether a request failed."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pilotfish.ui.flags import RBAC_DENIED

# Istio's default text format, field by field (pilot/pkg/model/telemetry_logging.go).
_TEXT = re.compile(
    r'^\[(?P<start_time>[^\]]*)\] "(?P<method>\S+) (?P<path>\S+) (?P<protocol>[^"]*)" '
    r"(?P<response_code>\d+) (?P<response_flags>\S+) (?P<response_code_details>\S+) "
    r'(?P<connection_termination_details>\S+) "(?P<upstream_transport_failure_reason>[^"]*)" '
    r"(?P<bytes_received>\d+) (?P<bytes_sent>\d+) (?P<duration>\d+) "
    r'(?P<upstream_service_time>\S+) "(?P<x_forwarded_for>[^"]*)" "(?P<user_agent>[^"]*)" '
    r'"(?P<request_id>[^"]*)" "(?P<authority>[^"]*)" "(?P<upstream_host>[^"]*)" '
    r"(?P<upstream_cluster>\S+) (?P<upstream_local_address>\S+) "
    r"(?P<downstream_local_address>\S+) (?P<downstream_remote_address>\S+) "
    r"(?P<requested_server_name>\S+) (?P<route_name>\S+)\s*$"
)


@dataclass(frozen=True)
class Entry:
    start_time: str
    method: str
    path: str
    response_code: int
    response_flags: str
    response_code_details: str
    authority: str
    upstream_cluster: str
    upstream_host: str
    upstream_transport_failure_reason: str
    duration_ms: int
    route_name: str

    @property
    def outbound(self) -> bool:
        return self.upstream_cluster.startswith("outbound|")

    @property
    def failed(self) -> bool:
        return (
            self.response_code == 0
            or self.response_code >= 500
            or self.response_flags not in ("-", "")
            or self.response_code_details.startswith(RBAC_DENIED)
            or "ext_authz" in self.response_code_details
        )


def _entry(fields: dict[str, str]) -> Entry:
    def get(name: str) -> str:
        value = fields.get(name)
        return "-" if value is None or value == "" else str(value)

    def number(name: str) -> int:
        try:
            return int(get(name))
        except ValueError:
            return 0

    return Entry(
        start_time=get("start_time"), method=get("method"), path=get("path"),
        response_code=number("response_code"), response_flags=get("response_flags"),
        response_code_details=get("response_code_details"), authority=get("authority"),
        upstream_cluster=get("upstream_cluster"), upstream_host=get("upstream_host"),
        upstream_transport_failure_reason=get("upstream_transport_failure_reason"),
        duration_ms=number("duration"), route_name=get("route_name"),
    )  # fmt: skip


def parse_line(line: str) -> Entry | None:
    """One access log line (text or JSON), or None for anything else (Envoy's own logs)."""
    line = line.strip()
    if line.startswith("{"):
        try:
            data = json.loads(line)
        except ValueError:
            return None
        if not isinstance(data, dict) or "response_code" not in data:
            return None
        return _entry({k: str(v) for k, v in data.items() if v is not None})
    match = _TEXT.match(line)
    return _entry(match.groupdict()) if match else None


def parse_lines(lines: Iterable[str]) -> list[Entry]:
    return [e for e in (parse_line(line) for line in lines) if e is not None]


def tail(path: Path, max_bytes: int = 2 * 1024 * 1024) -> list[str]:
    """The last lines of a log file (at most `max_bytes`), [] when it does not exist."""
    try:
        with path.open("rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except OSError:
        return []
    lines = data.decode(errors="replace").splitlines()
    return lines[1:] if size > max_bytes else lines
