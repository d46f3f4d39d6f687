"""From YAML text to validated `ConfigObject`s: `load(text, source)` and `LoadResult`.

Owns the document-level rules (apiVersion, kind and metadata.name present; a served version of
the kind; metadata shape), the split between Istio kinds (spec parsed into the model, then
Istio's semantic checks) and other documents (passed through untouched in `others`), and turning
every `Problem` into a `Diagnostic` with file:line, kind and namespace/name. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pilotfish.config.formats import labels_problem
from pilotfish.config.kinds import is_istio_group, lookup, split_api_version
from pilotfish.config.objects import (
    ConfigMeta,
    ConfigObject,
    Diagnostic,
    GroupVersionKind,
)
from pilotfish.config.schema import Problem, build_spec
from pilotfish.config.validation import validate_spec
from pilotfish.config.yaml_text import RawDocument, parse_yaml

DEFAULT_NAMESPACE = "default"
_NAME_MAX = 253


@dataclass
class LoadResult:
    """Everything read from one or more inputs. `ok` is False when any error was found.

    `objects` holds only the Istio documents that passed validation (warnings allowed);
    `others` the non-Istio documents, untouched."""

    objects: list[ConfigObject[Any]] = field(default_factory=list)
    others: list[RawDocument] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(d.level == "error" for d in self.diagnostics)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.level == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.level == "warning"]

    def extend(self, other: LoadResult) -> None:
        self.objects.extend(other.objects)
        self.others.extend(other.others)
        self.diagnostics.extend(other.diagnostics)


def load(text: str, source: str, strict: bool = False) -> LoadResult:
    """Parse and validate every document of a YAML stream. Never raises for bad input."""
    documents, syntax = parse_yaml(text, source)
    result = LoadResult(diagnostics=list(syntax))
    for document in documents:
        load_document(document, result, strict)
    return result


def load_document(document: RawDocument, result: LoadResult, strict: bool = False) -> None:
    """Validate one parsed document, adding it to `result.objects` or `result.others`."""
    api_version, kind = document.api_version, document.kind
    metadata = document.metadata
    namespace = metadata.get("namespace")
    namespace = namespace if isinstance(namespace, str) and namespace else DEFAULT_NAMESPACE
    name = metadata.get("name")
    name = name if isinstance(name, str) else ""
    label = f"{namespace}/{name}" if name else ""

    def report(problem: Problem) -> None:
        result.diagnostics.append(
            Diagnostic(
                problem.level,
                problem.message,
                problem.path,
                document.source_of(problem.path) if problem.path else document.source,
                kind,
                label,
            )
        )

    missing = [
        Problem(key, f"{key} is required")
        for key, present in (
            ("apiVersion", bool(api_version)),
            ("kind", bool(kind)),
            ("metadata.name", bool(name)),
        )
        if not present
    ]
    for problem in missing:
        report(problem)
    if missing:
        return
    info = lookup(api_version, kind)
    if info is None:
        if is_istio_group(api_version):
            report(Problem("kind", f'unknown Istio kind "{kind}" in {api_version}'))
        else:
            result.others.append(document)
        return
    group, version = split_api_version(api_version)
    if version not in info.versions:
        served = ", ".join(f"{group}/{v}" for v in info.versions)
        report(Problem("apiVersion", f"{api_version} is not served for {kind} (served: {served})"))
        return
    meta_problems = _metadata_problems(metadata, name)
    for problem in meta_problems:
        report(problem)
    spec, problems = build_spec(info.spec, document.data.get("spec"), "spec", strict)
    for problem in problems:
        report(problem)
    if spec is None or any(p.level == "error" for p in meta_problems):
        return
    semantic = validate_spec(kind, spec)
    for problem in semantic:
        report(problem)
    if any(p.level == "error" for p in [*problems, *semantic]):
        return
    result.objects.append(
        ConfigObject(
            meta=ConfigMeta(
                gvk=GroupVersionKind(group, version, kind),
                name=name,
                namespace=namespace,
                labels=_string_pairs(metadata.get("labels")),
                annotations=_string_pairs(metadata.get("annotations")),
                source=document.source,
            ),
            spec=spec,
            raw=document.data,
        )
    )


def _metadata_problems(metadata: dict[str, Any], name: str) -> list[Problem]:
    problems: list[Problem] = []
    if len(name) > _NAME_MAX or not _is_subdomain(name):
        problems.append(
            Problem(
                "metadata.name", f'invalid name "{name}": must be a lowercase DNS-1123 subdomain'
            )
        )
    namespace = metadata.get("namespace")
    if namespace is not None and (not isinstance(namespace, str) or not _is_label(namespace)):
        problems.append(Problem("metadata.namespace", f"invalid namespace {namespace!r}"))
    for key in ("labels", "annotations"):
        value = metadata.get(key)
        if value is None:
            continue
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            problems.append(Problem(f"metadata.{key}", f"{key} must be a map of strings"))
        elif key == "labels":
            found = labels_problem(value)
            if found is not None:
                problems.append(Problem(f"metadata.labels.{found[0]}", found[1]))
    return problems


def _is_label(text: str) -> bool:
    return (
        0 < len(text) <= 63
        and all(c.islower() or c.isdigit() or c == "-" for c in text if c.isascii())
        and text.isascii()
        and text[0].isalnum()
        and text[-1].isalnum()
    )


def _is_subdomain(text: str) -> bool:
    return bool(text) and all(_is_label(part) for part in text.split("."))


def _string_pairs(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        return ()
    return tuple(sorted((str(k), str(v)) for k, v in value.items()))
