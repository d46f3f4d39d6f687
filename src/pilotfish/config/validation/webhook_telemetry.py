"""Istio's webhook rules of a Telemetry (validateTelemetryTracing, validateTelemetryMetrics) on
the spec as read: one tracing entry and one provider per entry (more are warnings, as Istio
does not support them yet), custom tags with a name and a value of their kind, metric tag
overrides that are not null and hold a value unless REMOVE (UPSERT is the default operation),
access-log filters that parse as CEL (validateTelemetryFilter). The CRD's CEL and OpenAPI rules
(sampling range, an explicit UPSERT's value, empty provider names, custom metrics) are checked
elsewhere. Pure."""

from __future__ import annotations

from typing import Any

from pilotfish.config.raw import as_list, as_map
from pilotfish.config.schema import Problem
from pilotfish.config.validation.cel_syntax import cel_syntax_problem
from pilotfish.config.yaml_text import join_path

TAG_KINDS = (("literal", "value"), ("header", "name"), ("environment", "name"))
"""A custom tag's kinds, each with the field that may not be empty."""


def _tracing(entries: list[Any], path: str, found: list[Problem]) -> None:
    if len(entries) > 1:
        found.append(Problem(path, "multiple tracing is not currently supported", "warning"))
    for index, entry in enumerate(entries):
        at = join_path(path, index)
        entry = as_map(entry)
        if len(as_list(entry.get("providers"))) > 1:
            found.append(
                Problem(
                    join_path(at, "providers"),
                    "multiple providers is not currently supported",
                    "warning",
                )
            )
        for name, tag in as_map(entry.get("customTags")).items():
            where = join_path(join_path(at, "customTags"), str(name))
            if name == "":
                found.append(Problem(where, "tag name may not be empty"))
            if tag is None:
                found.append(Problem(where, f"tag '{name}' may not have a nil value"))
                continue
            for kind, field in TAG_KINDS:
                value = as_map(tag).get(kind)
                if value is not None and not as_map(value).get(field):
                    found.append(
                        Problem(join_path(where, kind), f"{kind} tag {field} may not be empty")
                    )


def _metrics(entries: list[Any], path: str, found: list[Problem]) -> None:
    for index, entry in enumerate(entries):
        overrides = join_path(join_path(path, index), "overrides")
        for number, override in enumerate(as_list(as_map(entry).get("overrides"))):
            at = join_path(overrides, number)
            if override is None:
                found.append(Problem(at, "tagOverrides may not be null"))
                continue
            for name, tag in as_map(as_map(override).get("tagOverrides")).items():
                where = join_path(join_path(at, "tagOverrides"), str(name))
                if name == "":
                    found.append(Problem(where, "tagOverrides.name may not be empty", "warning"))
                if tag is None:
                    found.append(Problem(where, "tagOverrides may not be null"))
                    continue
                tag = as_map(tag)
                if tag.get("operation") in (None, "UPSERT") and not tag.get("value"):
                    # the operation defaults to UPSERT, which the CRD's rule does not see
                    message = "tagOverrides.value must be set when operation is UPSERT"
                    found.append(Problem(where, message))
                if tag.get("operation") == "REMOVE" and tag.get("value"):
                    message = "tagOverrides.value may only be set when operation is UPSERT"
                    found.append(Problem(where, message))


def _access_logging(entries: list[Any], path: str, found: list[Problem]) -> None:
    for index, entry in enumerate(entries):
        expression = as_map(as_map(entry).get("filter")).get("expression")
        if isinstance(expression, str):
            problem = cel_syntax_problem(expression)
            if problem is not None:
                where = join_path(join_path(join_path(path, index), "filter"), "expression")
                found.append(Problem(where, f"must be a valid CEL expression, {problem}"))


def telemetry_problems(spec: Any, root: str = "spec") -> list[Problem]:
    found: list[Problem] = []
    spec = as_map(spec)
    _access_logging(as_list(spec.get("accessLogging")), join_path(root, "accessLogging"), found)
    _tracing(as_list(spec.get("tracing")), join_path(root, "tracing"), found)
    _metrics(as_list(spec.get("metrics")), join_path(root, "metrics"), found)
    return found
