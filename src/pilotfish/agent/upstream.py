"""How an agent on a host outside the mesh reaches the control plane: over TLS (Istio's 15012),
verifying the control plane's serving certificate against the mesh root it was given
(`root-cert.pem`) under the name it dials (`istiod.istio-system.svc`), and proving who it is with
its bearer token (`istio-token`) on every call: the CA's CSR, the agent's own xDS stream (health
reports) and Envoy's ADS stream (the token goes into the bootstrap's `initial_metadata`).

`ControlPlaneTls` is None for a local agent, which talks plaintext to 15010 on loopback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc


@dataclass(frozen=True)
class ControlPlaneTls:
    root_cert: Path  # the mesh's trust bundle (PEM)
    server_name: str  # the name the control plane's certificate carries
    token_path: Path

    def token(self) -> str:
        return self.token_path.read_text().strip()

    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token()}"),)

    def channel(self, address: str) -> grpc.aio.Channel:
        """A TLS channel to `address` (host:port); raises OSError if the root is unreadable."""
        credentials = grpc.ssl_channel_credentials(root_certificates=self.root_cert.read_bytes())
        options = (("grpc.ssl_target_name_override", self.server_name),)
        return grpc.aio.secure_channel(address, credentials, options)


def channel(address: str, tls: ControlPlaneTls | None) -> grpc.aio.Channel:
    return tls.channel(address) if tls is not None else grpc.aio.insecure_channel(address)
