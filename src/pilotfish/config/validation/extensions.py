"""Istio's rules for the extensions.istio.io kinds (WasmPlugin, TrafficExtension), on the spec as
read (plain dicts): pilotfish validates these kinds but does not enforce them in local mode, so
they have no model. The OpenAPI constraints come from `pilotfish.config.openapi`; these are the
CRD's CEL rules and the webhook's checks (URL scheme, sha256, env entries, match ports, one
selector kind, exactly one of wasm or lua). Pure.

Not run: `apply` says so for a WasmPlugin at its `spec.url` (`wasm_plugin_note`) rather than
leaving it silent; for Istio's attributegen plugin (Istio's task "Classifying Metrics Based on
Request or Response") it names the attributes that stay unset (a Telemetry reads them as
`filter_state['wasm.<name>']`) and how the same classification is written here: a Telemetry
`tagOverrides` value in CEL, which Envoy evaluates per request (`CLASSIFY_CEL`, also said for an
EnvoyFilter patching Istio's stats filter: `config.unenforced`). Imports no spec model.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pilotfish.config.objects import Diagnostic
from pilotfish.config.raw import as_list, as_map
from pilotfish.config.schema import Problem
from pilotfish.config.validation.webhook_targets import with_targets
from pilotfish.config.yaml_text import RawDocument, join_path

URL_SCHEMES = ("", "http", "https", "file", "oci")
BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
SHA256 = re.compile(r"^[a-f0-9]{64}$")
ONE_SELECTOR = "only one of targetRefs or selector can be set"
LUA_MAX = 65536


def _url_problem(url: Any) -> str | None:
    """Go's url.ParseRequestURI, retried with `http://` in front (as the webhook does): a bad
    %-escape or a scheme outside [http, https, file, oci] is refused."""
    if not isinstance(url, str) or not url:
        return "url field needs to be set"
    if BAD_ESCAPE.search(url) or any(c.isspace() for c in url):
        return f"failed to parse url {url!r}: invalid escape or space"
    scheme = SCHEME.match(url)
    name = scheme.group(1).lower() if scheme is not None else ""
    if name not in URL_SCHEMES:
        return "url must have schema one of [http, https, file, oci]"
    return None


def _selectors(spec: dict[str, Any], path: str, add: Callable[[str, str], None]) -> None:
    chosen = [k for k in ("selector", "targetRef", "targetRefs") if spec.get(k) is not None]
    if len(chosen) > 1:
        add(path, ONE_SELECTOR)
    labels = as_map(as_map(spec.get("selector")).get("matchLabels"))
    where = join_path(join_path(path, "selector"), "matchLabels")
    for key, value in labels.items():
        if not key:
            add(join_path(where, key), "key must not be empty")
        elif "*" in key:
            add(join_path(where, key), "wildcard not allowed in label key match")
        if isinstance(value, str) and "*" in value:
            add(join_path(where, key), "wildcard not allowed in label value match")
    refs = [(join_path(path, "targetRef"), spec.get("targetRef"))]
    refs += [
        (join_path(join_path(path, "targetRefs"), i), r)
        for i, r in enumerate(as_list(spec.get("targetRefs")))
    ]
    for where, ref in refs:
        if as_map(ref).get("namespace"):
            add(
                join_path(where, "namespace"),
                "cross namespace referencing is not currently supported",
            )


def _wasm(spec: dict[str, Any], path: str, add: Callable[[str, str], None]) -> None:
    problem = _url_problem(spec.get("url"))
    if problem is not None:
        add(join_path(path, "url"), problem)
    sha = spec.get("sha256")
    if isinstance(sha, str) and sha and not SHA256.match(sha):
        add(join_path(path, "sha256"), "sha256 field must match [a-f0-9]{64} pattern")
    env_path = join_path(join_path(path, "vmConfig"), "env")
    seen: set[str] = set()
    for index, env in enumerate(as_list(as_map(spec.get("vmConfig")).get("env"))):
        env = as_map(env)
        where = join_path(env_path, index)
        name = env.get("name")
        if isinstance(name, str) and name in seen:
            add(join_path(where, "name"), f'Duplicate value: "{name}"')
        if isinstance(name, str):
            seen.add(name)
        if env.get("valueFrom", "INLINE") != "INLINE" and env.get("value"):
            add(where, "value may only be set when valueFrom is INLINE")


def _match_ports(spec: dict[str, Any], path: str, add: Callable[[str, str], None]) -> None:
    for i, selector in enumerate(as_list(spec.get("match"))):
        ports = join_path(join_path(join_path(path, "match"), i), "ports")
        for j, port in enumerate(as_list(as_map(selector).get("ports"))):
            number = as_map(port).get("number")
            if isinstance(number, int) and not 0 < number <= 65535:
                add(join_path(join_path(ports, j), "number"), f"port {number} is out of range")


def validate_wasm_plugin(spec: Any, root: str = "spec") -> list[Problem]:
    found: list[Problem] = []

    def add(path: str, message: str) -> None:
        found.append(Problem(path, message))

    spec = as_map(spec)
    _selectors(spec, root, add)
    _wasm(spec, root, add)
    _match_ports(spec, root, add)
    return found


def validate_traffic_extension(spec: Any, root: str = "spec") -> list[Problem]:
    found: list[Problem] = []

    def add(path: str, message: str) -> None:
        found.append(Problem(path, message))

    spec = as_map(spec)
    if (spec.get("wasm") is None) == (spec.get("lua") is None):
        add(root, "exactly one of wasm or lua must be set")
    _selectors(spec, root, add)
    if spec.get("wasm") is not None:
        _wasm(as_map(spec.get("wasm")), join_path(root, "wasm"), add)
    lua = spec.get("lua")
    if lua is not None:
        code = as_map(lua).get("inlineCode")
        where = join_path(join_path(root, "lua"), "inlineCode")
        if not code:
            add(where, "lua.inlineCode cannot be empty")
        elif isinstance(code, str) and len(code) > LUA_MAX:
            add(where, "lua.inlineCode exceeds maximum size of 64KB")
    _match_ports(spec, root, add)
    return found


RAW_VALIDATORS: dict[str, Callable[[Any], list[Problem]]] = {
    "WasmPlugin": with_targets(validate_wasm_plugin),
    "TrafficExtension": with_targets(validate_traffic_extension),
}


CLASSIFY_CEL = (
    "to classify requests, give a Telemetry metrics override a tagOverrides value in CEL "
    "instead, e.g. request_operation: {value: \"request.url_path == '/reviews' && "
    "request.method == 'GET' ? 'ListReviews' : 'unknown'\"}"
)
WASM_PLUGIN = "WasmPlugin"
WASM_NOT_RUN = (
    "not applied: these Envoys fetch and run no Wasm module (the WasmPlugin is validated, "
    "then ignored)"
)


def wasm_plugin_note(document: RawDocument) -> Diagnostic:
    """`apply`'s warning for a WasmPlugin, at its `spec.url`; for attributegen it names the
    attributes that stay unset (Telemetry reads them as `filter_state['wasm.<name>']`)."""
    spec = document.data.get("spec")
    spec = spec if isinstance(spec, dict) else {}
    config = spec.get("pluginConfig")
    attributes = config.get("attributes") if isinstance(config, dict) else None
    names = [
        str(a["output_attribute"])
        for a in attributes or ()
        if isinstance(attributes, list) and isinstance(a, dict) and "output_attribute" in a
    ]
    message = WASM_NOT_RUN
    if names or "attributegen" in str(spec.get("url", "")):
        unset = ", ".join(f"filter_state['wasm.{n}']" for n in names) or "its attributes"
        message += (
            f"; attributegen sets nothing, so a Telemetry tagOverrides value reading {unset} "
            "is empty on every request: " + CLASSIFY_CEL
        )
    path = "spec.url" if "url" in spec else "spec"
    name = document.metadata.get("name")
    namespace = document.metadata.get("namespace") or "default"
    return Diagnostic(
        "warning",
        message,
        path=path,
        source=document.source_of(path),
        kind=document.kind,
        name=f"{namespace}/{name}" if isinstance(name, str) else "",
    )
