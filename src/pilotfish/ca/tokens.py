"""Bearer tokens: the credential an agent proves its identity with (where Istio's agents use a
Kubernetes service-account token).

The control plane issues random tokens and remembers only their SHA-256, with the identity each
stands for, in `<state>/ca/tokens.json` (mode 0600, written atomically). Two kinds:

- per instance (local mode): one token per workload instance, replaced when reissued;
- bootstrap tokens for hosts that join from elsewhere (`pilotfish x workload entry configure`,
  Istio's `istio-token` for a VM): bound to a WorkloadGroup's namespace and service account,
  valid until their expiry (istioctl's `--tokenDuration`, 1 h by default). Several may be live
  for one group (each configure run writes a new one; older ones stay valid until they expire).

A token authenticates exactly one identity; an expired, unknown or absent token nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pilotfish.ca.errors import Unauthenticated
from pilotfish.ca.identity import Identity
from pilotfish.ca.storage import write_private

GROUP_PREFIX = "workloadgroup/"  # the `instance` of a bootstrap token: workloadgroup/<name>


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class _Grant:
    namespace: str
    sa: str
    instance: str
    expires: float = 0.0  # Unix seconds; 0: no expiry (instance tokens)


@dataclass
class TokenRegistry:
    path: Path
    clock: Callable[[], float] = time.time
    _known: dict[str, _Grant] = field(default_factory=dict)  # digest -> grant

    def load(self) -> None:
        """Read the tokens issued before a restart; an unreadable file issues nothing."""
        try:
            rows = json.loads(self.path.read_text())
            self._known = {
                str(r["digest"]): _Grant(
                    str(r["namespace"]),
                    str(r["sa"]),
                    str(r["instance"]),
                    float(r.get("expires", 0)),
                )
                for r in rows
            }
        except (OSError, ValueError, KeyError, TypeError):
            self._known = {}

    def issue(self, instance: str, namespace: str, service_account: str) -> str:
        """A new token for `instance` (older tokens of that instance stop working)."""
        token = secrets.token_urlsafe(32)
        self._known = {
            d: g
            for d, g in self._known.items()
            if g.instance != instance or g.namespace != namespace
        }
        self._known[_digest(token)] = _Grant(namespace, service_account, instance)
        self._save()
        return token

    def issue_bootstrap(
        self, group: str, namespace: str, service_account: str, ttl_seconds: float
    ) -> tuple[str, float]:
        """(token, expiry) for hosts of WorkloadGroup `namespace/group`; expired grants are
        dropped. Raises ValueError for a lifetime that is not positive."""
        if ttl_seconds <= 0:
            raise ValueError("the token duration must be positive")
        now = self.clock()
        token = secrets.token_urlsafe(32)
        expires = now + ttl_seconds
        self._known = {d: g for d, g in self._known.items() if not g.expires or g.expires > now}
        self._known[_digest(token)] = _Grant(
            namespace, service_account, GROUP_PREFIX + group, expires
        )
        self._save()
        return token, expires

    def authenticate(self, token: str | None) -> tuple[Identity, str]:
        """(identity, instance) of the caller. Raises Unauthenticated for no, unknown or
        expired token."""
        if not token:
            raise Unauthenticated("no credential: send 'authorization: Bearer <token>'")
        digest = _digest(token)
        for known, grant in self._known.items():
            if hmac.compare_digest(known, digest):
                if grant.expires and grant.expires <= self.clock():
                    raise Unauthenticated("the token has expired")
                return Identity(grant.namespace, grant.sa), grant.instance
        raise Unauthenticated("the token is not one this control plane issued")

    def _save(self) -> None:
        rows = [
            {"digest": d, "namespace": g.namespace, "sa": g.sa, "instance": g.instance}
            | ({"expires": g.expires} if g.expires else {})
            for d, g in sorted(self._known.items())
        ]
        write_private(self.path, json.dumps(rows, indent=1))
