"""From YAML text to validated `ConfigObject`s: `load(text, source)` and `LoadResult`.

The one loading path of every input (files, `apply`, the store, `up`). Owns, as kubectl reads
documents, a `v1 List` standing for its items and `-n` given to every namespaced document that
names none (one naming another is an error); the document-level rules (apiVersion, kind and
metadata.name present; a served version of the kind; metadata shape); the split between Istio
kinds (spec parsed into the model, then Istio's semantic checks), the Gateway API's (checked by
`gateway_api.rules`, then kept as read in `others`) and other documents (passed
through untouched in `others`, with a warning for a kind pilotfish does not read when asked);
and turning every `Problem` into a `Diagnostic` with file:line, kind and namespace/name.
Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pilotfish.config.kinds import (
    GATEWAY_API_NOT_YET,
    gateway_api_kind,
    is_gateway_api_version,
    is_ingress_doc,
    is_istio_group,
    is_manifest_kind,
    is_namespaced,
    lookup,
    split_api_version,
)
from pilotfish.config.object_meta import metadata_problems, top_level_problems
from pilotfish.config.objects import (
    ConfigMeta,
    ConfigObject,
    Diagnostic,
    GroupVersionKind,
    Level,
    Source,
)
from pilotfish.config.openapi import kind_schema, kind_schema_group, openapi_problems
from pilotfish.config.schema import Problem, build_spec
from pilotfish.config.unmarshal import as_istio_reads, as_istio_reads_schema
from pilotfish.config.validation import split_spec_problems
from pilotfish.config.validation.extensions import RAW_VALIDATORS, WASM_PLUGIN, wasm_plugin_note
from pilotfish.config.validation.webhook_metadata import metadata_rules
from pilotfish.config.validation.webhook_policies import RAW_CHECKS
from pilotfish.config.validation.webhook_security import DRY_RUN, dry_run_problem
from pilotfish.config.validation.webhook_twins import twin_problems
from pilotfish.config.yaml_text import RawDocument, parse_yaml

DEFAULT_NAMESPACE = "default"
_DNS_LABEL = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$")


@dataclass
class LoadResult:
    """Everything read from one or more inputs. `ok` is False when any error was found.

    `objects` holds only the Istio documents that passed validation (warnings allowed);
    `others` the non-Istio documents, untouched; `rejected` the Istio documents whose spec
    parsed but broke a rule (analyzers still look at them, as istioctl analyze does)."""

    objects: list[ConfigObject[Any]] = field(default_factory=list)
    others: list[RawDocument] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    rejected: list[ConfigObject[Any]] = field(default_factory=list)

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
        self.rejected.extend(other.rejected)
        self.others.extend(other.others)
        self.diagnostics.extend(other.diagnostics)


def load(
    text: str,
    source: str,
    strict: bool = False,
    *,
    namespace: str | None = None,
    warn_unknown_kinds: bool = False,
    default_namespace: str | None = None,
) -> LoadResult:
    """Parse and validate every document of a YAML stream. Never raises for bad input.

    `namespace` (`-n`) is given to namespaced documents that name none (an error for those
    naming another); `default_namespace` only to those naming none (istioctl analyze's `-n`);
    `warn_unknown_kinds` adds a warning for each document that is neither an Istio kind nor a
    manifest kind."""
    documents, syntax = parse_yaml(text, source)
    result = LoadResult(diagnostics=list(syntax))
    for document in expand_lists(documents):
        if default_namespace:
            _default_namespace(document, default_namespace, result, strict=False)
        if not namespace or _default_namespace(document, namespace, result):
            load_document(document, result, strict)
    if warn_unknown_kinds:
        unknown = [d for d in result.others if not _stored_kind(d)]
        result.others = [d for d in result.others if _stored_kind(d)]
        result.diagnostics.extend(
            wasm_plugin_note(doc)
            if doc.kind == WASM_PLUGIN and is_istio_group(doc.api_version)
            else Diagnostic(
                "warning",
                f"{doc.api_version} {doc.kind} "
                + (
                    "is valid but not enforced in local mode; ignored"
                    if is_istio_group(doc.api_version)
                    else f"ignored: {GATEWAY_API_NOT_YET}"
                    if is_gateway_api_version(doc.api_version)
                    else "is not a kind pilotfish knows; ignored"
                ),
                source=doc.source,
                kind=doc.kind,
            )
            for doc in unknown
        )
    return result


def _stored_kind(doc: RawDocument) -> bool:
    """A manifest kind or a served Gateway API kind: kept with the config, not ignored."""
    return (
        is_manifest_kind(doc.api_version, doc.kind)
        or gateway_api_kind(doc.api_version, doc.kind) is not None
        or is_ingress_doc(doc.data)
    )


def expand_lists(documents: list[RawDocument]) -> list[RawDocument]:
    """Each `v1 List` document replaced by its items (`get -o json|yaml` output applies back)."""
    out: list[RawDocument] = []
    for document in documents:
        items = document.data.get("items")
        if document.kind != "List" or not isinstance(items, list):
            out.append(document)
            continue
        for index, item in enumerate(items):
            prefix = f"items[{index}]"
            lines = {
                path[len(prefix) + 1 :]: line
                for path, line in document.lines.items()
                if path.startswith(prefix + ".")
            }
            where = Source(document.source.file, document.line_of(prefix))
            out.append(RawDocument(item if isinstance(item, dict) else {}, where, lines))
    return out


def _default_namespace(
    document: RawDocument, namespace: str, result: LoadResult, strict: bool = True
) -> bool:
    """Give `namespace` to a namespaced document naming none; False (and an error) when the
    document names another one and `strict`."""
    if not is_namespaced(document.kind):
        return True
    meta = document.data.get("metadata")
    if isinstance(meta, dict) and not meta.get("namespace"):
        meta["namespace"] = namespace
    elif strict and isinstance(meta, dict) and meta.get("namespace") != namespace:
        message = (
            f"the namespace from the provided object {meta.get('namespace')!r} does not"
            f" match the namespace {namespace!r}: pass --namespace"
            f" {meta.get('namespace')} (or none)"
        )
        result.diagnostics.append(
            Diagnostic("error", message, source=document.source, kind=document.kind)
        )
        return False
    return True


def load_document(document: RawDocument, result: LoadResult, strict: bool = False) -> None:
    """Validate one parsed document, adding it to `result.objects` or `result.others`."""
    api_version, kind = document.api_version, document.kind
    metadata = document.metadata
    namespace = metadata.get("namespace")
    namespace = namespace if isinstance(namespace, str) and namespace else DEFAULT_NAMESPACE
    name = metadata.get("name")
    name = name if isinstance(name, str) else ""
    label = f"{namespace}/{name}" if name else ""

    def report(problem: Problem, webhook: bool = False, unreadable: bool = False) -> None:
        result.diagnostics.append(
            Diagnostic(
                problem.level,
                problem.message,
                problem.path,
                document.source_of(problem.path) if problem.path else document.source,
                kind,
                label,
                webhook,
                unreadable,
            )
        )

    missing = [
        Problem(key, f"{key} is required")
        for key, present in (
            ("apiVersion", bool(api_version)),
            ("kind", bool(kind)),
            # an IstioOperator is read by kind (istioctl validate and install need no name)
            ("metadata.name", bool(name) or api_version.startswith("install.istio.io/")),
        )
        if not present
    ]
    for problem in missing:
        report(problem)
    if missing:
        return
    info = lookup(api_version, kind)
    group, version = split_api_version(api_version)
    if info is None and is_gateway_api_version(api_version):
        from pilotfish.config.gateway_api.rules import document_problems  # its models

        found = document_problems(document.data, strict)
        if found is not None:  # a served Gateway API kind: stored as read, converted later
            for problem in found:
                report(problem)
            if not any(p.level == "error" for p in found):
                result.others.append(document)
            return
    if info is None and is_ingress_doc(document.data):
        from pilotfish.config.ingress.models import document_problems as ingress_problems

        for problem in ingress_problems(document.data, strict) or []:
            report(problem)
        if not any(p.level == "error" for p in ingress_problems(document.data, strict) or []):
            result.others.append(document)
        return
    if info is None:
        if not is_istio_group(api_version) or _unenforced(document, group, version, strict, report):
            result.others.append(document)
        return
    if version not in info.versions:
        served = ", ".join(f"{group}/{v}" for v in info.versions)
        report(Problem("apiVersion", f"{api_version} is not served for {kind} (served: {served})"))
        return
    meta_problems = metadata_problems(metadata, name) + top_level_problems(document.data)
    gateway_name = []  # ValidateGateway's rule (a webhook rule: istioctl analyze says it)
    if kind == "Gateway" and not (len(name) <= 63 and _DNS_LABEL.match(name)):
        gateway_name.append(Problem("metadata.name", f'invalid gateway name: "{name}"'))
    for problem in meta_problems:
        report(problem)
    crd = kind_schema(kind, version)
    raw_spec = as_istio_reads(info.spec, document.data.get("spec"), crd[0] if crd else None)
    if isinstance(raw_spec, dict):
        document.data["spec"] = raw_spec
    spec, problems = build_spec(info.spec, raw_spec, "spec", strict)
    semantic, cel = split_spec_problems(kind, spec) if spec is not None else ([], [])
    semantic += _more_webhook_rules(kind, raw_spec, metadata, semantic, f"{namespace}/{name}")
    semantic += gateway_name
    said = {p.path for p in semantic if p.level == "error"}
    cel = [p for p in cel if p.path not in said]  # a webhook rule at that path says it
    flagged = {p.path for p in [*problems, *semantic, *cel] if p.level == "error"}
    schema = [p for p in openapi_problems(kind, version, raw_spec) if not _said(p, flagged)]
    for problem in problems:  # a type the protobuf JSON reader refuses too: the spec is unread
        report(problem, unreadable=spec is None and problem.level == "error")
    for problem in schema:
        report(problem)
    for problem in semantic:
        report(problem, webhook=True)
    for problem in cel:
        report(problem)  # the API server's rules: not Istio's webhook, not istioctl analyze's
    if spec is None:
        return
    errors = any(p.level == "error" for p in [*meta_problems, *problems, *schema, *semantic, *cel])
    (result.rejected if errors else result.objects).append(
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
            lines=document.lines,
        )
    )


def _unenforced(
    document: RawDocument,
    group: str,
    version: str,
    strict: bool,
    report: Callable[[Problem, bool], None],
) -> bool:
    """An Istio kind pilotfish validates (its CRD schema, CEL and webhook rules) but does not
    model or enforce (WasmPlugin, TrafficExtension). True when the document is valid."""
    kind = document.kind
    schema = kind_schema_group(kind)
    if schema is None or schema[0] != group:
        report(Problem("kind", f'unknown Istio kind "{kind}" in {document.api_version}'), False)
        return False
    if version not in schema[1]:
        served = ", ".join(f"{group}/{v}" for v in schema[1])
        report(
            Problem(
                "apiVersion", f"{document.api_version} is not served for {kind} (served: {served})"
            ),
            False,
        )
        return False
    name = document.metadata.get("name")
    problems = metadata_problems(document.metadata, name if isinstance(name, str) else "")
    problems += top_level_problems(document.data)
    spec = document.data.get("spec")
    found_schema = kind_schema(kind, version)
    if found_schema is not None:
        spec = as_istio_reads_schema(found_schema[0], spec)
        if isinstance(spec, dict):
            document.data["spec"] = spec
    found = openapi_problems(kind, version, spec, unknown_fields=True)
    unknown: Level = "error" if strict else "warning"
    problems += [
        Problem(p.path, p.message, unknown) if p.message.startswith("unknown field") else p
        for p in found
    ]
    flagged = {p.path for p in problems}
    raw_rules = RAW_VALIDATORS.get(kind)
    if raw_rules is not None and spec is not None:
        problems += [p for p in raw_rules(spec) if p.path not in flagged]
    flagged |= {p.path for p in problems}
    problems += [p for p in twin_problems(kind, spec) if p.path not in flagged]
    for problem in problems:
        # no model: its errors stand for the webhook's (istioctl analyze: IST0106), warnings
        # (unknown fields) are the reader's
        report(problem, problem.level == "error")
    return not any(p.level == "error" for p in problems)


def _more_webhook_rules(
    kind: str, raw_spec: Any, metadata: dict[str, Any], found: list[Problem], where: str
) -> list[Problem]:
    """Istio's webhook rules checked on the spec as read (`validation.webhook_*`), where the
    model-based validator found nothing at the same path; and the dry-run annotation rule."""
    flagged = {p.path for p in found if p.level == "error"}
    more: list[Problem] = []
    check = RAW_CHECKS.get(kind)
    if check is not None and isinstance(raw_spec, dict):
        more = [p for p in check(raw_spec) if p.path not in flagged]
    flagged |= {p.path for p in more if p.level == "error"}
    more += [p for p in twin_problems(kind, raw_spec) if p.path not in flagged]
    more += metadata_rules(kind, raw_spec, metadata)
    annotations = metadata.get("annotations")
    if isinstance(annotations, dict):
        problem = dry_run_problem(kind, annotations, raw_spec, where)
        if problem is not None:
            more.append(Problem(f"metadata.annotations.{DRY_RUN}", problem))
    return more


def _said(problem: Problem, flagged: set[str]) -> bool:
    """Whether a schema problem repeats one the model or the webhook checks already reported: at
    its path or, for a missing field, at the message that holds it."""
    if problem.path in flagged:
        return True
    parent = problem.path.rpartition(".")[0]
    return problem.message == "Required value" and parent in flagged


def _string_pairs(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        return ()
    return tuple(sorted((str(k), str(v)) for k, v in value.items()))
