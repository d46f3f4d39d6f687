"""Runs the analyzers of the topic modules (one module per area of Istio's analyzers) over one
analysis: `topic_messages(result, inventory, kube, mesh)`. `analyze` calls it once. Pure.
"""

from __future__ import annotations

from pilotfish.config.analyzers.annotations import annotation_messages
from pilotfish.config.analyzers.conditions import negative_conditions
from pilotfish.config.analyzers.deployments import service_associations, unrestricted_jwks
from pilotfish.config.analyzers.deprecations import deprecated_fields, removed_kinds
from pilotfish.config.analyzers.documents import istio_objects
from pilotfish.config.analyzers.envoy_filters import envoy_filter_patches
from pilotfish.config.analyzers.gateway_certs import duplicate_certificates
from pilotfish.config.analyzers.injection_images import mismatched_proxy_images
from pilotfish.config.analyzers.inventory import Inventory
from pilotfish.config.analyzers.kube import Kube
from pilotfish.config.analyzers.kube_gateway_checks import (
    ineffective_selectors,
    old_gateway_api_crds,
)
from pilotfish.config.analyzers.mesh_config import MeshInputs, unknown_registries
from pilotfish.config.analyzers.messages import AnalysisMessage
from pilotfish.config.analyzers.service_entries import addresses_required, conflicting_protocols
from pilotfish.config.analyzers.subsets import unselected_subsets
from pilotfish.config.analyzers.telemetry_providers import empty_providers, lightstep_tracing
from pilotfish.config.analyzers.vs_rules import (
    claim_routes_without_authn,
    subset_rules_at_gateways,
)
from pilotfish.config.analyzers.webhooks import (
    external_control_plane,
    image_auto,
    overlapping_webhooks,
)
from pilotfish.config.kinds import (
    DESTINATION_RULE,
    ENVOY_FILTER,
    GATEWAY,
    REQUEST_AUTHENTICATION,
    SERVICE_ENTRY,
    SIDECAR,
    TELEMETRY_KIND,
    VIRTUAL_SERVICE,
)
from pilotfish.config.load import LoadResult


def topic_messages(
    result: LoadResult, inventory: Inventory, kube: Kube, mesh: MeshInputs
) -> list[AnalysisMessage]:
    services = istio_objects(result, VIRTUAL_SERVICE)
    gateways = istio_objects(result, GATEWAY)
    entries = istio_objects(result, SERVICE_ENTRY)
    telemetries = istio_objects(result, TELEMETRY_KIND)
    authns = istio_objects(result, REQUEST_AUTHENTICATION)
    return [
        *envoy_filter_patches(istio_objects(result, ENVOY_FILTER)),
        *deprecated_fields(services, istio_objects(result, SIDECAR)),
        *removed_kinds(result),
        *empty_providers(telemetries, mesh),
        *lightstep_tracing(telemetries, mesh),
        *addresses_required(entries, mesh),
        *conflicting_protocols(entries),
        *unselected_subsets(
            result, istio_objects(result, DESTINATION_RULE), entries, inventory, kube
        ),
        *duplicate_certificates(gateways),
        *subset_rules_at_gateways(services),
        *claim_routes_without_authn(services, gateways, authns, kube),
        *negative_conditions(result),
        *ineffective_selectors(result, kube),
        *old_gateway_api_crds(result),
        *overlapping_webhooks(result, kube),
        *external_control_plane(result),
        *image_auto(result, kube),
        *mismatched_proxy_images(result, kube, mesh),
        *service_associations(kube),
        *unrestricted_jwks(authns, kube),
        *unknown_registries(mesh, kube),
        *annotation_messages(kube),
    ]
