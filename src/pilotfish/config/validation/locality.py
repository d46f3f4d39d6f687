"""Istio's ValidateLocalityLbSetting (pkg/config/validation/agent) on a DestinationRule's
`localityLbSetting`: distribute xor failover; no region/zone/subzone label in failoverPriority
beside failover; each distribute rule's weights in [1, 100] summing to 100, its source and
destination localities (`region[/zone[/subzone]]`, one trailing `*` at most) not overlapping;
failover between distinct regions named without zone or wildcard; failover needs outlier
detection (a warning); `failovers` holds the rules a zoneAwareLbSetting shares. Pure."""

from __future__ import annotations

from pilotfish.config.locality import REGION as REGION
from pilotfish.config.locality import SUBZONE as SUBZONE
from pilotfish.config.locality import TOPOLOGY_LABELS as TOPOLOGY_LABELS
from pilotfish.config.locality import ZONE as ZONE
from pilotfish.config.models.networking.destination_rule import (
    LocalityLoadBalancerSetting,
    OutlierDetection,
    ZoneAwareLoadBalancerSetting,
)
from pilotfish.config.validation.common import Findings


def localities_problem(localities: list[str]) -> str | None:
    """Istio's validateLocalities: well-formed and not overlapping one another."""
    seen: dict[str, dict[str, set[str]]] = {}
    for locality in localities:
        stars = locality.count("*")
        if stars and (stars > 1 or not locality.endswith("*")):
            return (
                f"locality {locality} wildcard '*' number can not exceed 1 and must be in the end"
            )
        overlap = f"locality {locality} overlap with previous specified ones"
        if "*" in seen:
            return overlap
        parts = locality.split("/", 2)
        if "" in parts:
            return f"locality {locality} must not contain empty region/zone/subzone info"
        region = parts[0]
        if len(parts) == 1:
            if region in seen:
                return overlap
            seen[region] = {"*": {"*"}}
            continue
        if "*" in seen.get(region, {}):
            return overlap
        zones, zone = seen.setdefault(region, {}), parts[1]
        if len(parts) == 2:
            if zone in zones:
                return overlap
            zones[zone] = {"*"}
            continue
        subzones = zones.setdefault(zone, set())
        if "*" in subzones or parts[2] in subzones:
            return overlap
        subzones.add(parts[2])
    return None


def locality_lb(
    found: Findings,
    path: str,
    lb: LocalityLoadBalancerSetting,
    outlier: OutlierDetection | None,
) -> None:
    if lb.distribute and lb.failover:
        found.error(path, "can not simultaneously specify 'distribute' and 'failover'")
        return
    if lb.failover:
        for label in lb.failover_priority:
            if label in TOPOLOGY_LABELS:
                found.error(
                    f"{path}.failoverPriority",
                    f"can not simultaneously set 'failover' and topology label '{label}' in "
                    "'failover_priority'",
                )
                return
    for index, rule in enumerate(lb.distribute):
        at = f"{path}.distribute[{index}].to"
        if any(not 1 <= weight <= 100 for weight in rule.to.values()):
            found.error(at, "locality weight must be in range [1, 100]")
            return
        total = sum(rule.to.values())
        if total != 100:
            found.error(at, f"total locality weight {total} != 100")
            return
        found.add(at, localities_problem(list(rule.to)))
    sources = [rule.from_ or "" for rule in lb.distribute]
    found.add(f"{path}.distribute", localities_problem(sources))
    failovers(found, path, lb, outlier, "locality lb", "locality lb failover only specify region")


def failovers(
    found: Findings,
    path: str,
    lb: LocalityLoadBalancerSetting | ZoneAwareLoadBalancerSetting,
    outlier: OutlierDetection | None,
    what: str,
    region_only: str,
) -> None:
    """The failover rules a localityLbSetting and a zoneAwareLbSetting share (Istio words them
    each its own way: `what`, `region_only`): distinct regions without zone or wildcard, and
    failover needs outlier detection (a warning)."""
    if (lb.failover or lb.failover_priority) and outlier is None:
        found.warn(path, "outlier detection policy must be provided for failover")
    for index, failover in enumerate(lb.failover):
        at, regions = f"{path}.failover[{index}]", (failover.from_ or "", failover.to or "")
        if regions[0] == regions[1]:
            found.error(at, f"{what} failover settings must specify different regions")
        if any("/" in r for r in regions):
            found.error(at, region_only)
        if any("*" in r for r in regions):
            found.error(at, f"{what} failover region should not contain '*' wildcard")
