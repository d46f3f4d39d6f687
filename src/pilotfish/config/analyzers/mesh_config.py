"""The mesh config an analysis sees (Istio's MeshConfig and MeshNetworks, as plain data):
`MeshInputs`, and the analyzers that read nothing else: IST0126 (a meshNetworks endpoint
`fromRegistry` naming no known service registry, as Istio's MeshNetworksAnalyzer).

Where the values come from, as istioctl analyze: `--meshConfigFile FILE` (a MeshConfig YAML, as
the `mesh` key of the `istio` ConfigMap), otherwise the `istio` ConfigMap of istio-system given
among the inputs (its `mesh` and `meshNetworks` keys), otherwise Istio's defaults (nothing set,
root namespace istio-system). Pure: the file's text is read by the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from pilotfish.config.analyzers.documents import as_list, as_map, as_strings
from pilotfish.config.analyzers.kube import Kube
from pilotfish.config.analyzers.messages import ROOT_NAMESPACE, AnalysisMessage
from pilotfish.config.objects import Source
from pilotfish.config.yaml_text import yaml_error_place

MESH_CONFIG_MAP = ("istio-system", "istio")
MULTICLUSTER_SECRET_LABEL = "istio/multiCluster"
SERVICE_REGISTRIES = ("Mock", "Kubernetes", "External")  # Istio's provider IDs


class MeshConfigError(ValueError):
    """A mesh config file that is not a YAML mapping; the message names the file."""


@dataclass(frozen=True)
class MeshInputs:
    config: dict[str, Any] = field(default_factory=dict)  # MeshConfig, camelCase keys
    networks: dict[str, Any] = field(default_factory=dict)  # MeshNetworks
    networks_source: Source = field(default_factory=Source)

    @property
    def default_config(self) -> dict[str, Any]:
        return as_map(self.config.get("defaultConfig"))

    @property
    def proxy_metadata(self) -> dict[str, str]:
        return as_strings(self.default_config.get("proxyMetadata"))

    @property
    def root_namespace(self) -> str:
        value = self.config.get("rootNamespace")
        return value if isinstance(value, str) and value else ROOT_NAMESPACE

    def extension_providers(self) -> list[dict[str, Any]]:
        return [as_map(p) for p in as_list(self.config.get("extensionProviders"))]


def parse_mesh_yaml(text: str, source: str) -> dict[str, Any]:
    """A MeshConfig/MeshNetworks YAML text as a mapping; MeshConfigError names the file and line."""
    try:
        data = YAML(typ="safe").load(text)
    except YAMLError as exc:
        where, problem = yaml_error_place(exc, source)
        raise MeshConfigError(f"{where}: not valid YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise MeshConfigError(f"{source}: a mesh config must be a YAML mapping")
    return data


def mesh_inputs(kube: Kube, config_file: dict[str, Any] | None = None) -> MeshInputs:
    """The mesh config of an analysis: the file's when given, else the `istio` ConfigMap's."""
    config: dict[str, Any] = {}
    networks: dict[str, Any] = {}
    source = Source()
    for config_map in kube.config_maps:
        if (config_map.namespace, config_map.name) != MESH_CONFIG_MAP:
            continue
        data = as_strings(config_map.data.get("data"))
        where = config_map.document.source if config_map.document else Source()
        try:
            config = parse_mesh_yaml(data.get("mesh", ""), str(where))
            networks = parse_mesh_yaml(data.get("meshNetworks", ""), str(where))
        except MeshConfigError:
            config, networks = {}, {}
        source = where
    if config_file is not None:
        config = config_file
    return MeshInputs(config, networks, source)


def _registries(kube: Kube) -> set[str]:
    found = set(SERVICE_REGISTRIES)
    for secret in kube.secrets.values():
        if secret.labels.get(MULTICLUSTER_SECRET_LABEL) == "true":
            found |= set(as_map(secret.data.get("data"))) | set(
                as_map(secret.data.get("stringData"))
            )
    return found


def unknown_registries(mesh: MeshInputs, kube: Kube) -> list[AnalysisMessage]:
    """IST0126 for each network endpoint whose `fromRegistry` is no known registry (Istio's
    providers, or a cluster of a multicluster remote Secret)."""
    registries = _registries(kube)
    out: list[AnalysisMessage] = []
    for network, body in as_map(mesh.networks.get("networks")).items():
        for endpoint in as_list(as_map(body).get("endpoints")):
            registry = as_map(endpoint).get("fromRegistry")
            if isinstance(registry, str) and registry not in registries:
                text = f"Unknown service registry {registry} in network {network}"
                out.append(
                    AnalysisMessage(
                        "Error",
                        "IST0126",
                        "MeshNetworks",
                        "meshnetworks.istio-system",
                        text,
                        mesh.networks_source,
                    )
                )
    return out
