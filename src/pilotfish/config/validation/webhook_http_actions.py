"""Istio's webhook rules for the actions of an HTTP route (pkg/config/validation): redirects
(uri or prefixRewrite, a 3xx code, http/https scheme), rewrites (something to rewrite, a
complete uriRegexRewrite), retries (policy names, settings with zero attempts) and CORS
(methods, header names, non-empty origins, max age in whole seconds). Pure: plain dicts in,
problems through `add`."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pilotfish.config.durations import parse_duration
from pilotfish.config.raw import as_list, as_map
from pilotfish.config.yaml_text import join_path

Add = Callable[[str, str], None]
TCHARS = re.compile(r"^[!#$%&'*+\-.^_`|~A-Za-z0-9]+$")
RETRY_ON = frozenset(
    [
        "5xx",
        "gateway-error",
        "reset",
        "reset-before-request",
        "connect-failure",
        "retriable-4xx",
        "refused-stream",
        "retriable-status-codes",
        "retriable-headers",
        "envoy-ratelimited",
        "http3-post-connect-failure",
        "cancelled",
        "deadline-exceeded",
        "internal",
        "resource-exhausted",
        "unavailable",
    ]
)
CORS_METHODS = frozenset(
    ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE", "*"]
)
HTTP_STATUS_TEXT = frozenset(
    [
        *range(100, 104),
        *range(200, 209),
        226,
        *range(300, 309),
        *range(400, 419),
        421,
        422,
        423,
        424,
        425,
        426,
        428,
        429,
        431,
        451,
        *range(500, 509),
        510,
        511,
    ]
)


def http_action_problems(route: dict[str, Any], matches: list[Any], path: str, add: Add) -> None:
    _redirect(route.get("redirect"), matches, join_path(path, "redirect"), add)
    _rewrite(route.get("rewrite"), join_path(path, "rewrite"), add)
    retries_problems(route.get("retries"), join_path(path, "retries"), add)
    _cors(route.get("corsPolicy"), join_path(path, "corsPolicy"), add)


def header_name_problem(name: str) -> str | None:
    """Istio's check of a header name (RFC 7230 token characters)."""
    if not name:
        return "header name cannot be empty"
    if not TCHARS.match(name):
        return f"header name {name} is not a valid header name"
    return None


def _redirect(redirect: Any, matches: list[Any], path: str, add: Add) -> None:
    if not isinstance(redirect, dict):
        return
    if redirect.get("uri") and redirect.get("prefixRewrite"):
        add(path, "redirect may only specify one of uri or prefix_rewrite")
        return
    if redirect.get("prefixRewrite"):
        for match in matches:
            uri = as_map(match).get("uri")
            if isinstance(uri, dict) and "prefix" not in uri:
                add(
                    path,
                    "redirect prefix_rewrite requires all URI matches to use prefix match type",
                )
                return
    fields = ("uri", "prefixRewrite", "authority", "scheme")
    port_set = redirect.get("port") is not None or redirect.get("derivePort") is not None
    if not any(redirect.get(f) for f in fields) and not port_set:
        add(path, "redirect must specify URI, authority, scheme, or port")
        return
    code = redirect.get("redirectCode")
    if isinstance(code, int) and code and not 300 <= code <= 399:
        add(join_path(path, "redirectCode"), f"{code} is not a valid redirect code, must be 3xx")
        return
    scheme = redirect.get("scheme")
    if scheme and scheme not in ("http", "https"):
        add(join_path(path, "scheme"), 'invalid redirect scheme, must be "http" or "https"')
        return
    port = redirect.get("port")
    if isinstance(port, int) and port > 65535:
        add(join_path(path, "port"), f"port number {port} must be in the range 1..65535")


def _rewrite(rewrite: Any, path: str, add: Add) -> None:
    if not isinstance(rewrite, dict):
        return
    regex = rewrite.get("uriRegexRewrite")
    if rewrite.get("uri") and regex is not None:
        add(path, "rewrite may only contain one of URI or UriRegexRewrite")
    elif not rewrite.get("uri") and regex is None and not rewrite.get("authority"):
        add(
            path,
            "rewrite must specify at least one of URI, UriRegexRewrite, or authority. "
            "Only one of URI or UriRegexRewrite may be specified",
        )
    elif regex is not None and not (as_map(regex).get("match") and as_map(regex).get("rewrite")):
        add(
            join_path(path, "uriRegexRewrite"),
            "UriRegexRewrite requires both Rewrite and Match fields to be specified",
        )


def retries_problems(retries: Any, path: str, add: Add) -> None:
    """Istio's ValidateHTTPRetry on the written policy: what `attempts: 0` may not come with,
    and the retryOn names (the typed checks: `virtual_service.http_retry`)."""
    retries = as_map(retries)
    if not retries:
        return
    attempts = retries.get("attempts", 0)
    if attempts == 0 and (
        retries.get("perTryTimeout") is not None
        or retries.get("retryOn")
        or retries.get("retryRemoteLocalities") is not None
    ):
        add(path, "http retry policy configured when attempts are set to 0 (disabled)")
    retry_on = retries.get("retryOn")
    if isinstance(retry_on, str) and retry_on:
        for policy in retry_on.split(","):
            code = int(policy) if policy.isdigit() else 0
            if code not in HTTP_STATUS_TEXT and policy not in RETRY_ON:
                add(join_path(path, "retryOn"), f'"{policy}" is not a valid retryOn policy')


def _cors(cors: Any, path: str, add: Add) -> None:
    cors = as_map(cors)
    for index, origin in enumerate(as_list(cors.get("allowOrigins"))):
        origin = as_map(origin)
        value = next((origin[k] for k in ("exact", "prefix", "regex") if k in origin), "")
        if value == "" or value is None:
            add(
                join_path(join_path(path, "allowOrigins"), index),
                f"'{value or ''}' is not a valid match type for CORS allow origins",
            )
    for index, method in enumerate(as_list(cors.get("allowMethods"))):
        if method not in CORS_METHODS:
            at = join_path(join_path(path, "allowMethods"), index)
            add(at, f'"{method}" is not a supported HTTP method')
    for key in ("allowHeaders", "exposeHeaders"):
        for index, name in enumerate(as_list(cors.get(key))):
            problem = None if name == "*" else header_name_problem(str(name or ""))
            if problem is not None:
                add(join_path(join_path(path, key), index), problem)
    max_age = cors.get("maxAge")
    try:
        seconds = parse_duration(max_age) if isinstance(max_age, str) else 0.0
    except ValueError:
        return  # the duration's own check reports it
    if abs(seconds - round(seconds)) > 1e-9:
        add(join_path(path, "maxAge"), "max_age duration is accurate only to seconds precision")
