"""`pilotfish analyze [FILE|DIR|-]... [-f ...]`: istioctl analyze, with its options, output
(`analyze_output`) and exit codes.

Inputs as istioctl gathers them: `-` is standard input, a directory gives every .json, .yaml
and .yml file under it (subfolders always: `-R` only says, as istioctl does, that the flag was
removed), another extension is skipped with a note, and an object defined twice (same kind,
namespace and name) is the later definition. A namespaced object naming no namespace is in the
`-n` namespace (`default`); with `-A` istioctl leaves its namespace empty and prints it
`Kind name` (pilotfish still analyses it as in `default`); objects in kube-system, kube-public,
kube-node-lease and local-path-storage are ignored, as istioctl's file source ignores them.
Messages are kept for the analysed namespace only (`-n`, else `default`; all with `-A`).

Where the cluster's objects come from (`-k`/`--use-kube`, default true): pilotfish has no
Kubernetes cluster, so the `v1` Pods, Services, Namespaces, Secrets and Nodes of the inputs
(and the running mesh's registry with `--use-mesh`, or when no file is given and a mesh runs)
stand for it; with `--use-kube=false` they are ignored, as istioctl ignores them in files, and
the analyzers reading them are skipped (`pilotfish.config.analyzers.offline`).

Exit codes (istioctl's): 79 when a kept message reaches `--failure-threshold` (log output
only), 65 when an input could not be parsed (unless `--ignore-unknown`), 64 for a usage
mistake, 1 when an input or the running mesh cannot be read, 0 otherwise.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pilotfish.cli import analyze_output as out
from pilotfish.config import LoadResult, load
from pilotfish.config.analyzers.analyze import Inventory, analyze
from pilotfish.config.analyzers.kube_objects import SYSTEM_NAMESPACES
from pilotfish.config.analyzers.mesh_config import MeshConfigError, parse_mesh_yaml
from pilotfish.config.analyzers.messages import CLUSTER_SCOPED, AnalysisMessage
from pilotfish.config.analyzers.offline import CLUSTER_KINDS, WORKLOAD
from pilotfish.config.kinds import is_namespaced
from pilotfish.config.load import DEFAULT_NAMESPACE
from pilotfish.config.objects import Diagnostic
from pilotfish.config.yaml_text import RawDocument

SUFFIXES = (".json", ".yaml", ".yml")
ANALYZERS = Path(__file__).parents[1] / "config" / "analyzers" / "istio_analyzers.json"
RECURSIVE_REMOVED = (
    "The recursive flag has been removed and is hardcoded to true without explicitly specifying it."
)


class InputError(Exception):
    """An input path that cannot be read; the message names it."""


@dataclass
class AnalyzeOptions:
    """istioctl analyze's options (`-f` is pilotfish's spelling of the positional files)."""

    paths: list[str] = field(default_factory=list)
    output_threshold: str = "Info"
    failure_threshold: str = "Error"
    use_mesh: bool = False
    state_dir: Path | None = None
    recursive: bool = False
    mesh_config_file: str | None = None
    all_namespaces: bool = False
    namespace: str | None = None
    output: str = "log"
    suppress: list[str] = field(default_factory=list)
    use_kube: bool = True
    list_analyzers: bool = False
    ignore_unknown: bool = False


def gather_files(paths: list[str]) -> list[tuple[str, str]]:
    """(name, text) of each input, as istioctl's gatherFiles reads them; InputError for a path
    that does not exist or cannot be read."""
    found: list[tuple[str, str]] = []
    for raw in paths:
        if raw == "-":
            found.append(("-", sys.stdin.read()))
            continue
        path = Path(raw)
        if not path.exists():
            raise InputError(f"stat {raw}: no such file or directory")
        for file in _walk(path) if path.is_dir() else [path]:
            if file.suffix not in SUFFIXES:
                print(
                    f"Skipping file {file}, recognized file extensions are: [{' '.join(SUFFIXES)}]",
                    file=sys.stderr,
                )
                continue
            try:
                found.append((str(file), file.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError) as exc:
                raise InputError(f"open {file}: {exc}") from None
    return found


def _walk(directory: Path) -> list[Path]:
    """The files under `directory`, in Go's filepath.Walk order (lexical, depth first)."""
    files: list[Path] = []
    for entry in sorted(directory.iterdir(), key=lambda p: p.name):
        files += _walk(entry) if entry.is_dir() else [entry]
    return files


def load_inputs(
    paths: list[str], namespace: str = "default", files: list[tuple[str, str]] | None = None
) -> LoadResult:
    """The objects the inputs define, as istioctl's file source holds them: `namespace` given
    to namespaced objects naming none, the later definition of an object winning, objects in
    the namespaces istioctl ignores left out. Raises InputError for unreadable paths."""
    result = LoadResult()
    given = namespace if namespace != DEFAULT_NAMESPACE else None  # else load's own default
    for source, text in gather_files(paths) if files is None else files:
        result.extend(load(text, source, default_namespace=given))
    for doc in result.others:
        if doc.kind in CLUSTER_SCOPED:  # istioctl clears a cluster-scoped object's namespace
            doc.metadata.pop("namespace", None)
    objects = {
        obj.meta.key: obj for obj in result.objects if obj.meta.namespace not in SYSTEM_NAMESPACES
    }
    others: dict[tuple[str, str, str, Any], RawDocument] = {}
    for doc in result.others:
        doc_namespace = doc.metadata.get("namespace") or "default"
        if doc_namespace in SYSTEM_NAMESPACES or (
            doc.kind == "Namespace" and doc.metadata.get("name") in SYSTEM_NAMESPACES
        ):
            continue
        key = (doc.api_version.split("/")[0], doc.kind, doc_namespace, doc.metadata.get("name"))
        others[key] = doc
    diagnostics = [
        d for d in result.diagnostics if d.name.partition("/")[0] not in SYSTEM_NAMESPACES
    ]
    return LoadResult(list(objects.values()), list(others.values()), diagnostics, result.rejected)


def offline_inputs(result: LoadResult) -> LoadResult:
    """The inputs as `--use-kube=false` reads them: no Pods, Services, Namespaces, Secrets,
    Nodes (nor pilotfish Workloads, which stand for a cluster's pods)."""
    others = [
        d
        for d in result.others
        if not (d.api_version == "v1" and d.kind in CLUSTER_KINDS)
        and (d.api_version, d.kind) != WORKLOAD
    ]
    return LoadResult(result.objects, others, result.diagnostics, result.rejected)


def _parse_errors(result: LoadResult) -> tuple[LoadResult, list[Diagnostic]]:
    """Documents istioctl cannot parse (YAML syntax, no kind, a spec its protobuf JSON reader
    refuses: a string for a number, an unknown enum value) are not analysed: istioctl says so
    apart ("Error(s) adding files") instead of reporting a message."""

    def unparsed(d: Diagnostic) -> bool:
        return d.level == "error" and (not d.kind or d.unreadable)

    bad = [d for d in result.diagnostics if unparsed(d)]
    kept = [d for d in result.diagnostics if not unparsed(d)]
    return LoadResult(result.objects, result.others, kept, result.rejected), bad


def unnamespaced(result: LoadResult) -> set[tuple[str, str]]:
    """(kind, `name.default`) of each namespaced input naming no namespace, which istioctl's
    `-A` leaves without one."""
    found: set[tuple[str, str]] = set()
    for obj in [*result.objects, *result.rejected]:
        if is_namespaced(obj.meta.kind) and not _names_namespace(obj.raw):
            found.add((obj.meta.kind, f"{obj.meta.name}.{DEFAULT_NAMESPACE}"))
    for doc in result.others:
        if doc.kind not in CLUSTER_SCOPED and not _names_namespace(doc.data):
            found.add((doc.kind, f"{doc.metadata.get('name')}.{DEFAULT_NAMESPACE}"))
    return found


def _names_namespace(data: dict[str, Any]) -> bool:
    metadata = data.get("metadata")
    return isinstance(metadata, dict) and bool(metadata.get("namespace"))


def without_namespace(
    messages: list[AnalysisMessage], unnamed: set[tuple[str, str]]
) -> list[AnalysisMessage]:
    """The messages about the `unnamed` resources as istioctl `-A` prints them: `Kind name`."""
    return [
        replace(m, name=m.name.removesuffix(f".{DEFAULT_NAMESPACE}"), unnamespaced=True)
        if (m.kind, m.name) in unnamed
        else m
        for m in messages
    ]


def suppress_annotations(
    result: LoadResult, unnamed: set[tuple[str, str]] | None = None
) -> dict[str, str]:
    """`Kind namespace/name` (`Kind name` for the `unnamed` objects) -> its
    `galley.istio.io/analyze-suppress` annotation."""
    found: dict[str, str] = {}
    for obj in result.objects:
        codes = dict(obj.meta.annotations).get(out.SUPPRESS_ANNOTATION)
        if codes and (obj.meta.kind, f"{obj.meta.name}.{obj.meta.namespace}") in (unnamed or ()):
            found[f"{obj.meta.kind} {obj.meta.name}"] = codes
        elif codes:
            found[f"{obj.meta.kind} {obj.meta.namespace}/{obj.meta.name}"] = codes
    for doc in result.others:
        annotations = doc.metadata.get("annotations")
        codes = annotations.get(out.SUPPRESS_ANNOTATION) if isinstance(annotations, dict) else None
        if isinstance(codes, str) and codes:
            namespace = doc.metadata.get("namespace") or DEFAULT_NAMESPACE
            name = doc.metadata.get("name")
            bare = doc.kind in CLUSTER_SCOPED or (doc.kind, f"{name}.{namespace}") in (
                unnamed or ()
            )
            found[f"{doc.kind} {name}" if bare else f"{doc.kind} {namespace}/{name}"] = codes
    return found


def list_analyzers() -> str:
    """`istioctl analyze -L`: each analyzer of Istio's `analyzers.All()`, sorted by name."""
    catalogue: dict[str, str] = json.loads(ANALYZERS.read_text(encoding="utf-8"))
    return "".join(
        f"* {name}:\n" + (f"    {text}\n" if text else "")
        for name, text in sorted(catalogue.items())
    )


def _mesh_config(path: str | None) -> dict[str, Any] | None:
    """The `--meshConfigFile` mapping (None without the option); InputError when unreadable."""
    if path is None:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--meshConfigFile {path}: {exc}") from None
    return parse_mesh_yaml(text, path)


def _usage(text: str) -> int:
    print(f"Error: {text}", file=sys.stderr)
    return out.USAGE


def run(options: AnalyzeOptions) -> int:
    """The whole command; returns istioctl's exit code."""
    from pilotfish.cli.analyze_mesh import mesh_running, namespace_exists, read_mesh_inputs

    output = options.output.lower()
    if output not in out.FORMATS:
        return _usage(
            f"{options.output} not a valid option for format. See istioctl analyze --help"
        )
    output_threshold = out.level(options.output_threshold)
    failure_threshold = out.level(options.failure_threshold)
    if output_threshold is None or failure_threshold is None:
        return _usage("invalid argument for threshold flag: invalid level option")
    if options.list_analyzers:
        print(list_analyzers(), end="")
        return 0
    if options.recursive:
        print(RECURSIVE_REMOVED)
        return 0
    suppressions = []
    for value in options.suppress:
        rule = out.parse_suppression(value)
        if rule is None:
            print(
                f"Error: {value} is not a valid suppression value. See istioctl analyze --help",
                file=sys.stderr,
            )
            return 1
        suppressions.append(rule)
    namespace = None if options.all_namespaces else (options.namespace or "default")
    use_mesh = options.use_mesh
    if not options.paths and not use_mesh and options.use_kube:
        if not mesh_running(options.state_dir):  # `istioctl analyze` alone reads the cluster
            print("error: no input: give FILE, DIR or -, or start a mesh", file=sys.stderr)
            return 1
        use_mesh = True
    try:
        files = gather_files(options.paths)
        given = "default" if options.all_namespaces else (options.namespace or "default")
        result = load_inputs(options.paths, given, files)
        unnamed = unnamespaced(result) if options.all_namespaces else set()  # files only
        mesh_config = _mesh_config(options.mesh_config_file)
    except (InputError, MeshConfigError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    mesh: Inventory | None = None
    if use_mesh and options.use_kube:
        if namespace is not None and not namespace_exists(options.state_dir, namespace):
            print(f'namespace "{options.namespace or ""}" not found', file=sys.stderr)
            return 0  # istioctl's: nothing analysed, no error
        result, mesh = read_mesh_inputs(options.state_dir, result)
    if not options.use_kube:
        result = offline_inputs(result)
    result, unparsed = _parse_errors(result)
    for diagnostic in unparsed:
        print(f"Error(s) adding files: {diagnostic}", file=sys.stderr)
    messages = analyze(result, mesh, mesh_config, cluster=False if not options.use_kube else None)
    messages = without_namespace(messages, unnamed)
    annotations = suppress_annotations(result, unnamed)
    messages = out.kept(messages, namespace, suppressions, annotations)
    shown = out.at_least(messages, output_threshold)
    print(out.render(shown, output))
    if not shown:
        if unparsed:
            print(
                f"No validation issues found when analyzing {out.target(namespace)} "
                "(but 1 file could not be parsed).",
                file=sys.stderr,
            )
        else:
            print(out.no_issues([name for name, _ in files], namespace), file=sys.stderr)
    if output != "log":
        return 0
    if out.at_least(messages, failure_threshold):
        print(out.found_issues(namespace), file=sys.stderr)
        return out.ANALYZE_FAILED
    if unparsed and not options.ignore_unknown:
        print("Error: Some files couldn't be parsed.", file=sys.stderr)
        return out.PARSE_FAILED
    return 0


def analyze_command(paths: list[str], **options: Any) -> int:
    """`run` with the options as keywords (the files first)."""
    return run(AnalyzeOptions(paths=list(paths), **options))
