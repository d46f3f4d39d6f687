"""WorkloadEntry auto-registration and health (Istio's `pilot/pkg/autoregistration`).

A proxy whose node metadata names a WorkloadGroup (`AUTO_REGISTER_GROUP`, from the agent's
`ISTIO_META_AUTO_REGISTER_GROUP`) and whose stream carries a verified identity (a bootstrap or
instance token over TLS, 15012) gets a WorkloadEntry made from the group, as istiod does:

- name `<group>-<ip>[-<network>]` (`:` of an IPv6 address becomes `-`; at most 253 characters,
  cut from the front), in the proxy's namespace;
- spec: the group's `template`, `address` = the proxy's IP, labels = template labels, then the
  group's `metadata.labels`, then the proxy's own labels; `network` from the proxy; `locality` from
  the proxy's labels (`istio-locality`, topology), when they say one;
- annotations: `istio.io/autoRegistrationGroup`, the group's `metadata.annotations`,
  `istio.io/workloadController` (this control plane), `istio.io/connectedAt` (RFC 3339), and
  `proxy.istio.io/health-checks-enabled: "true"` when the proxy's ProxyConfig has a
  `readinessProbe`; an owner reference to the group.

Registration is refused (logged, nothing written) without a verified identity, or when that
identity's namespace is not the entry's or its service account is not the template's — a
plaintext stream (15010) cannot register anything. When the proxy's last stream closes, the entry
gets `istio.io/disconnectedAt` (and loses `connectedAt`); if it has not reconnected after the
grace period (`PILOT_WORKLOAD_ENTRY_GRACE_PERIOD`, 10 s) it is deleted; so are entries left from
before this control plane started whose proxy has not reconnected after that long. Health
reports set the entry's `Healthy` condition (`status.conditions`); the registry treats a
health-checked entry as ready only with `Healthy: "True"`.

Events are handled one at a time, in arrival order, by `run()`; every change goes through the
control plane's ordinary change path (validated, translated, pushed), given as `change`.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pilotfish.ca.errors import Unauthenticated
from pilotfish.ca.identity import Identity
from pilotfish.ca.service import bearer_token
from pilotfish.ca.tokens import TokenRegistry
from pilotfish.config.durations import parse_duration
from pilotfish.config.locality import from_labels
from pilotfish.controlplane.store import DocKey
from pilotfish.registry.service_entries import HEALTH_CHECKS_ANNOTATION, HEALTHY
from pilotfish.xds.observer import Refused

log = logging.getLogger("pilotfish.autoregistration")

GROUP_ANNOTATION = "istio.io/autoRegistrationGroup"
CONTROLLER_ANNOTATION = "istio.io/workloadController"
CONNECTED_AT = "istio.io/connectedAt"
DISCONNECTED_AT = "istio.io/disconnectedAt"
GRACE_PERIOD_ENV = "PILOT_WORKLOAD_ENTRY_GRACE_PERIOD"
DEFAULT_GRACE_PERIOD = 10.0
API_VERSION = "networking.istio.io/v1"

Change = Callable[[list[dict[str, Any]], list[DocKey]], Awaitable[bool]]
"""(documents to apply, keys to delete) -> applied. The control plane's change path."""


def grace_period(environ: dict[str, str] | None = None) -> float:
    """Seconds (Istio's duration syntax, e.g. `10s`); a bad value keeps the default."""
    text = (environ if environ is not None else dict(os.environ)).get(GRACE_PERIOD_ENV, "")
    if not text:
        return DEFAULT_GRACE_PERIOD
    try:
        return parse_duration(text)
    except ValueError:
        log.error("ignoring %s=%r: not a duration", GRACE_PERIOD_ENV, text)
        return DEFAULT_GRACE_PERIOD


def timestamp(when: datetime.datetime) -> str:
    """Go's RFC3339Nano (fractional seconds without trailing zeros), in UTC."""
    text = when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".")
    return text + "Z"


def entry_name(group: str, ip: str, network: str = "") -> str:
    name = "-".join([group, ip.replace(":", "-"), *([network] if network else [])])
    return name[-253:]


def identity_problem(identity: Identity | None, namespace: str, service_account: str) -> str:
    """Why `identity` may not control an entry of `namespace` with `service_account` ("" if
    it may): Istio's `ensureProxyCanControlEntry`."""
    if identity is None:
        return "registration of WorkloadEntry requires a verified identity"
    if identity.namespace != namespace:
        return f"namespace mismatch: {identity.namespace!r} vs {namespace!r}"
    if service_account and identity.service_account != service_account:
        return f"service account mismatch: {identity.service_account!r} vs {service_account!r}"
    return ""


@dataclass(frozen=True)
class Joining:
    """What registration reads of a connecting proxy (its node id and metadata)."""

    node_id: str
    namespace: str
    ip: str
    group: str
    network: str
    labels: tuple[tuple[str, str], ...]
    health_checked: bool  # its ProxyConfig has a readinessProbe

    @staticmethod
    def of(node_id: str, metadata: dict[str, Any]) -> Joining | None:
        group = str(metadata.get("AUTO_REGISTER_GROUP") or "")
        parts = node_id.split("~")
        if not group or len(parts) != 4:
            return None
        ip = str(metadata.get("INSTANCE_IPS") or parts[1]).split(",")[0]
        namespace = str(metadata.get("NAMESPACE") or parts[2].rsplit(".", 1)[-1])
        labels = metadata.get("LABELS") if isinstance(metadata.get("LABELS"), dict) else {}
        proxy_config = metadata.get("PROXY_CONFIG")
        probe = isinstance(proxy_config, dict) and bool(proxy_config.get("readinessProbe"))
        return Joining(
            node_id,
            namespace,
            ip,
            group,
            str(metadata.get("NETWORK") or ""),
            tuple(sorted((str(k), str(v)) for k, v in (labels or {}).items())),
            probe,
        )

    @property
    def entry(self) -> str:
        return entry_name(self.group, self.ip, self.network)


def entry_from_group(
    joining: Joining, group: dict[str, Any], controller: str, now: datetime.datetime
) -> dict[str, Any]:
    """The WorkloadEntry document istiod creates for `joining` from WorkloadGroup `group`."""
    spec = dict(group.get("spec") or {})
    template = dict(spec.get("template") or {})
    metadata = dict(spec.get("metadata") or {})
    labels = dict(template.get("labels") or {})
    labels.update(metadata.get("labels") or {})
    labels.update(dict(joining.labels))
    annotations = {GROUP_ANNOTATION: str(group["metadata"]["name"])}
    annotations.update(metadata.get("annotations") or {})
    annotations[CONTROLLER_ANNOTATION] = controller
    annotations[CONNECTED_AT] = timestamp(now)
    if joining.health_checked:
        annotations[HEALTH_CHECKS_ANNOTATION] = "true"
    template.update(address=joining.ip, labels=labels)
    if joining.network:
        template["network"] = joining.network
    locality = from_labels(dict(joining.labels))  # as Istio, from the proxy's node locality
    if locality:
        template["locality"] = locality
    return {
        "apiVersion": API_VERSION,
        "kind": "WorkloadEntry",
        "metadata": {
            "name": joining.entry,
            "namespace": joining.namespace,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": "WorkloadGroup",
                    "name": str(group["metadata"]["name"]),
                    "controller": True,
                }
            ],
        },
        "spec": template,
    }


def with_condition(doc: dict[str, Any], healthy: bool, message: str, now: str) -> dict[str, Any]:
    """`doc` with its `Healthy` condition replaced (Istio's agent reports transitions only, so
    the probe and transition times are the same)."""
    condition = {
        "type": HEALTHY,
        "status": "True" if healthy else "False",
        "lastProbeTime": now,
        "lastTransitionTime": now,
    } | ({} if healthy else {"message": message})
    status = dict(doc.get("status") or {})
    others = [c for c in status.get("conditions") or [] if c.get("type") != HEALTHY]
    status["conditions"] = [*others, condition]
    return doc | {"status": status}


def _with_annotations(doc: dict[str, Any], set_: dict[str, str], drop: str) -> dict[str, Any]:
    meta = dict(doc["metadata"])
    annotations = {k: v for k, v in dict(meta.get("annotations") or {}).items() if k != drop}
    meta["annotations"] = annotations | set_
    return doc | {"metadata": meta}


def _key(namespace: str, name: str) -> DocKey:
    return ("networking.istio.io", "WorkloadEntry", namespace, name)


class AutoRegistration:
    """The stream observer of the control plane's xDS server (`pilotfish.xds.observer`):
    admits streams (a TLS stream needs a valid token), and registers, updates and cleans up
    WorkloadEntries. `documents(kind)` returns the stored documents of a kind."""

    def __init__(
        self,
        tokens: TokenRegistry,
        documents: Callable[[str], list[dict[str, Any]]],
        change: Change,
        controller: str,
        grace: float = DEFAULT_GRACE_PERIOD,
        clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    ) -> None:
        self.tokens = tokens
        self.documents = documents
        self.change = change
        self.controller = controller
        self.grace = grace
        self.clock = clock
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.streams: dict[DocKey, int] = {}  # entry -> open streams of its proxy
        self.entry_of: dict[str, DocKey] = {}  # node id -> its registered entry
        self.refused = 0  # registrations refused (identity, missing group)

    # ---- StreamObserver (called on the event loop, must not block) ----------------------
    def admit(self, metadata: Sequence[tuple[str, Any]], secure: bool) -> object:
        token = bearer_token(metadata)
        if not secure and token is None:
            return None  # plaintext xDS (15010, loopback): served, but no verified identity
        try:
            identity, _ = self.tokens.authenticate(token)
        except Unauthenticated as exc:
            raise Refused(str(exc)) from None
        return identity

    def connected(self, node_id: str, metadata: dict[str, Any], credential: object) -> None:
        joining = Joining.of(node_id, metadata)
        if joining is not None:
            identity = credential if isinstance(credential, Identity) else None
            self.events.put_nowait(("connect", (joining, identity)))

    def disconnected(self, node_id: str, credential: object) -> None:
        self.events.put_nowait(("disconnect", node_id))

    def health(self, node_id: str, healthy: bool, message: str) -> None:
        self.events.put_nowait(("health", (node_id, healthy, message)))

    # ---- the worker -------------------------------------------------------------------------
    async def run(self) -> None:
        # entries registered before this control plane started (it restarted, or was killed
        # while hosts were connected): those whose proxy has not come back within the grace
        # period go, as Istio's periodic cleanup removes leaked entries
        asyncio.get_running_loop().call_later(self.grace, self.events.put_nowait, ("sweep", None))
        while True:
            what, arg = await self.events.get()
            try:
                if what == "connect":
                    await self._connect(*arg)
                elif what == "disconnect":
                    await self._disconnect(arg)
                elif what == "health":
                    await self._health(*arg)
                elif what == "cleanup":
                    await self._cleanup(*arg)
                elif what == "sweep":
                    await self._sweep()
            except Exception:  # one bad event must not stop registration
                log.exception("auto-registration: handling %s failed", what)

    def _find(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        for doc in self.documents(kind):
            meta = doc.get("metadata") or {}
            if (meta.get("namespace") or "default", meta.get("name")) == (namespace, name):
                return doc
        return None

    async def _connect(self, joining: Joining, identity: Identity | None) -> None:
        key = _key(joining.namespace, joining.entry)
        group = self._find("WorkloadGroup", joining.namespace, joining.group)
        existing = self._find("WorkloadEntry", joining.namespace, joining.entry)
        if group is None and existing is None:
            self.refused += 1
            log.warning(
                "auto-registration of %s refused: no WorkloadGroup %s/%s",
                joining.node_id,
                joining.namespace,
                joining.group,
            )
            return
        source = existing or group
        assert source is not None
        account = str(
            ((source.get("spec") or {}).get("template") or {}).get("serviceAccount") or ""
        )
        if existing is not None:
            account = str((existing.get("spec") or {}).get("serviceAccount") or "")
        problem = identity_problem(identity, joining.namespace, account)
        if problem:
            self.refused += 1
            log.warning("auto-registration of %s refused: %s", joining.node_id, problem)
            return
        now = timestamp(self.clock())
        if existing is not None:
            doc = _with_annotations(
                existing,
                {CONTROLLER_ANNOTATION: self.controller, CONNECTED_AT: now},
                DISCONNECTED_AT,
            )
        else:
            assert group is not None
            doc = entry_from_group(joining, group, self.controller, self.clock())
        if await self.change([doc], []):
            self.entry_of[joining.node_id] = key
            self.streams[key] = self.streams.get(key, 0) + 1
            what = "updated auto-registered" if existing is not None else "auto-registered"
            log.info("%s WorkloadEntry %s/%s", what, key[2], key[3])

    async def _disconnect(self, node_id: str) -> None:
        key = self.entry_of.get(node_id)
        if key is None:
            return
        left = self.streams.get(key, 0) - 1
        if left > 0:
            self.streams[key] = left
            return
        self.streams.pop(key, None)
        self.entry_of.pop(node_id, None)
        doc = self._find("WorkloadEntry", key[2], key[3])
        if doc is None:
            return
        disconnected = self.clock()
        doc = _with_annotations(doc, {DISCONNECTED_AT: timestamp(disconnected)}, CONNECTED_AT)
        await self.change([doc], [])
        asyncio.get_running_loop().call_later(
            self.grace, self.events.put_nowait, ("cleanup", (key, timestamp(disconnected)))
        )

    async def _cleanup(self, key: DocKey, disconnected_at: str) -> None:
        """The grace period passed: delete the entry unless its proxy came back since."""
        doc = self._find("WorkloadEntry", key[2], key[3])
        if doc is None or key in self.streams:
            return
        annotations = dict((doc.get("metadata") or {}).get("annotations") or {})
        if CONNECTED_AT in annotations or annotations.get(DISCONNECTED_AT) != disconnected_at:
            return
        if not annotations.get(GROUP_ANNOTATION):
            return
        if await self.change([], [key]):
            log.info("cleaned up auto-registered WorkloadEntry %s/%s", key[2], key[3])

    async def _sweep(self) -> None:
        stale = []
        for doc in self.documents("WorkloadEntry"):
            meta = doc.get("metadata") or {}
            annotations = dict(meta.get("annotations") or {})
            key = _key(str(meta.get("namespace") or "default"), str(meta.get("name")))
            if annotations.get(GROUP_ANNOTATION) and key not in self.streams:
                stale.append(key)
        if stale and await self.change([], stale):
            log.info("cleaned up %d auto-registered WorkloadEntries left from before", len(stale))

    async def _health(self, node_id: str, healthy: bool, message: str) -> None:
        key = self.entry_of.get(node_id)
        doc = self._find("WorkloadEntry", key[2], key[3]) if key is not None else None
        if doc is None:
            log.debug("health of %s ignored: no WorkloadEntry it controls", node_id)
            return
        annotations = dict((doc.get("metadata") or {}).get("annotations") or {})
        if HEALTH_CHECKS_ANNOTATION not in annotations:
            return  # Istio: only entries eligible for health status updates take them
        await self.change([with_condition(doc, healthy, message, timestamp(self.clock()))], [])
