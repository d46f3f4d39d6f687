"""Galley: typed Istio API objects, YAML loading with file:line, validation, analyzers, stores.

Must not import any other pilotfish package (but the bottom-floor `state_files`), nor grpc.
Errors are returned as `Diagnostic`s, never raised for user mistakes.

Entry points: `load(text, source)` and `load_paths(paths)` → `LoadResult` (objects, others,
diagnostics, ok). Models: `pilotfish.config.models.networking`. Durations:
`pilotfish.config.durations.parse_duration`. ProxyConfig `proxyMetadata` keys the agent honours:
`pilotfish.config.proxy_metadata`.
"""

from pilotfish.config.files import load_paths
from pilotfish.config.load import LoadResult, load
from pilotfish.config.yaml_text import RawDocument

__all__ = ["LoadResult", "RawDocument", "load", "load_paths"]
