"""What `pilotfish analyze` prints, exactly as istioctl analyze prints it (istioctl's
`pkg/util/formatting`, `pkg/config/analysis/diag`, `local.filterMessages`).

- The messages kept: those about resources in the analysed namespace (all with `-A`; a
  cluster-scoped resource always), minus the suppressed ones (`-S CODE=Kind name.ns`, `*`
  matching any text, and a resource's own `galley.istio.io/analyze-suppress: CODE,...`
  annotation, `*` for every code), sorted (errors first, then code, resource, text) and each
  printed once.
- `-o log` lines `Level [CODE] (Kind namespace/name file:line) message`; `-o json` the list of
  {code, documentationUrl, level, message, origin, reference} (Go's `json.MarshalIndent` with a
  tab); `-o yaml` the same list as YAML.
- The closing words: `✔ No validation issues found when analyzing FILE.` (on stderr) when
  nothing is printed, and on failure (a message at or above the failure threshold, log format
  only) `Error: Analyzers found issues when analyzing namespace: NS.` with the documentation
  link, exit 79.
Pure: no I/O.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping
from typing import Any

from ruamel.yaml import YAML

from pilotfish.config.analyzers.messages import SEVERITY_RANK, AnalysisMessage

ISTIO_DOCS_VERSION = "v1.30"
"""The Istio minor version whose analyzers and messages pilotfish follows (its docs links)."""
CONFIG_ANALYSIS = f"https://istio.io/{ISTIO_DOCS_VERSION}/docs/reference/config/analysis"
DOC_REF = "istioctl-analyze"
SUPPRESS_ANNOTATION = "galley.istio.io/analyze-suppress"
FORMATS = ("log", "json", "yaml")
ANALYZE_FAILED = 79  # istioctl's ExitAnalyzerFoundIssues
USAGE = 64  # istioctl's ExitIncorrectUsage
PARSE_FAILED = 65  # istioctl's ExitDataError (FileParseError)
LEVELS = {"INFO": "Info", "WARNING": "Warning", "ERROR": "Error"}


def level(text: str) -> str | None:
    """A `--output-threshold`/`--failure-threshold` value (any case) as its level, or None."""
    return LEVELS.get(text.upper())


def glob_match(pattern: str, text: str) -> bool:
    """`*` matches any text, everything else itself (ryanuber/go-glob, as istioctl's -S)."""
    parts = pattern.split("*")
    if len(parts) == 1:
        return pattern == text
    if not text.startswith(parts[0]) or not text.endswith(parts[-1]):
        return False
    at = len(parts[0])
    end = len(text) - len(parts[-1])
    for part in parts[1:-1]:
        found = text.find(part, at, end)
        if found < 0:
            return False
        at = found + len(part)
    return at <= end


def parse_suppression(value: str) -> tuple[str, str] | None:
    """`CODE=Kind name.namespace` as (code, resource pattern); None when malformed."""
    parts = value.split("=")
    return (parts[0], parts[1]) if len(parts) == 2 else None


def _suppressed_name(pattern: str, message: AnalysisMessage) -> bool:
    """Whether `pattern` names the message's resource: as istioctl prints it (`Kind ns/name`)
    or in the `Kind name.ns` form of istioctl's help."""
    dotted = f"{message.kind} {message.name}"
    return glob_match(pattern, message.origin) or glob_match(pattern, dotted)


def kept(
    messages: Iterable[AnalysisMessage],
    namespace: str | None,
    suppressions: Iterable[tuple[str, str]] = (),
    annotations: Mapping[str, str] | None = None,
) -> list[AnalysisMessage]:
    """The messages istioctl keeps, in its order, each once. `namespace` None: every namespace;
    `annotations` maps a resource's origin (`Kind ns/name`) to its suppress annotation."""
    rules = list(suppressions)
    said = annotations or {}
    out: dict[str, AnalysisMessage] = {}
    for message in sorted(messages, key=AnalysisMessage.sort_key):
        if namespace is not None and message.namespace not in ("", namespace):
            continue
        codes = said.get(message.origin)
        if codes and any(c in ("*", message.code) for c in codes.split(",")):
            continue
        if any(c == message.code and _suppressed_name(p, message) for c, p in rules):
            continue
        out.setdefault(str(message), message)
    return list(out.values())


def at_least(messages: Iterable[AnalysisMessage], threshold: str) -> list[AnalysisMessage]:
    return [m for m in messages if SEVERITY_RANK[m.severity] >= SEVERITY_RANK[threshold]]


def documentation_url(code: str) -> str:
    return f"{CONFIG_ANALYSIS}/{code.lower()}/?ref={DOC_REF}"


def unstructured(message: AnalysisMessage) -> dict[str, Any]:
    """A message as istioctl's `-o json|yaml` gives it (`diag.Message.Unstructured`)."""
    out: dict[str, Any] = {
        "code": message.code,
        "documentationUrl": documentation_url(message.code),
        "level": message.severity,
        "message": message.message,
        "origin": message.origin,
    }
    if message.reference:
        out["reference"] = message.reference
    return out


def _go_json(data: Any) -> str:
    """Go's `json.MarshalIndent(data, "", "\\t")`: sorted keys, HTML characters escaped."""
    text = json.dumps(data, indent="\t", sort_keys=True, ensure_ascii=False)
    for char, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        text = text.replace(char, escaped)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def render(messages: list[AnalysisMessage], output: str) -> str:
    """The text istioctl prints on stdout for these messages (a newline is added after it)."""
    if output == "json":
        return _go_json([unstructured(m) for m in messages])
    if output == "yaml":
        if not messages:
            return "[]\n"
        dumper = YAML(typ="safe", pure=True)
        dumper.default_flow_style = False
        dumper.width = 1 << 30
        dumper.allow_unicode = True
        out = io.StringIO()
        dumper.dump([unstructured(m) for m in messages], out)
        return out.getvalue()
    return "\n".join(str(m) for m in messages)


def target(namespace: str | None) -> str:
    """istioctl's `analyzeTargetAsString`."""
    return "all namespaces" if namespace is None else f"namespace: {namespace}"


def no_issues(files: list[str], namespace: str | None) -> str:
    """The line istioctl prints on stderr when it prints no message."""
    if len(files) > 1:
        return "\u2714 No validation issues found when analyzing:\n  - " + "\n  - ".join(files)
    if files:
        return f"\u2714 No validation issues found when analyzing {files[0]}."
    return f"\u2714 No validation issues found when analyzing {target(namespace)}."


def found_issues(namespace: str | None) -> str:
    """istioctl's `AnalyzerFoundIssuesError` as cobra prints it (on stderr)."""
    return (
        f"Error: Analyzers found issues when analyzing {target(namespace)}.\n"
        f"See {CONFIG_ANALYSIS} for more information about causes and resolutions."
    )
