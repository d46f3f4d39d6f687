"""Per-instance bearer tokens: the credential an agent proves its identity with in local mode
(where Istio's agents use a Kubernetes service-account token).

The control plane issues one random token per workload instance and remembers only its SHA-256
with the identity it stands for, in `<state>/ca/tokens.json` (mode 0600, written atomically).
The agent keeps its token in a 0600 file of its own. A token authenticates exactly one identity.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from pilotfish.ca.errors import Unauthenticated
from pilotfish.ca.identity import Identity
from pilotfish.ca.storage import write_private


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class TokenRegistry:
    path: Path
    _known: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # digest -> ns, sa, inst

    def load(self) -> None:
        """Read the tokens issued before a restart; an unreadable file issues nothing."""
        try:
            rows = json.loads(self.path.read_text())
            self._known = {str(r["digest"]): (r["namespace"], r["sa"], r["instance"]) for r in rows}
        except (OSError, ValueError, KeyError, TypeError):
            self._known = {}

    def issue(self, instance: str, namespace: str, service_account: str) -> str:
        """A new token for `instance` (older tokens of that instance stop working)."""
        token = secrets.token_urlsafe(32)
        self._known = {
            d: v for d, v in self._known.items() if v[2] != instance or v[0] != namespace
        }
        self._known[_digest(token)] = (namespace, service_account, instance)
        self._save()
        return token

    def authenticate(self, token: str | None) -> tuple[Identity, str]:
        """(identity, instance) of the caller. Raises Unauthenticated for no or unknown token."""
        if not token:
            raise Unauthenticated("no credential: send 'authorization: Bearer <token>'")
        digest = _digest(token)
        for known, (namespace, sa, instance) in self._known.items():
            if hmac.compare_digest(known, digest):
                return Identity(namespace, sa), instance
        raise Unauthenticated("the token is not one this control plane issued")

    def _save(self) -> None:
        rows = [
            {"digest": d, "namespace": ns, "sa": sa, "instance": inst}
            for d, (ns, sa, inst) in sorted(self._known.items())
        ]
        write_private(self.path, json.dumps(rows, indent=1))
