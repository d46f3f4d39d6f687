"""Citadel: the mesh's certificate authority and workload identities.

Owns: SPIFFE identities (`identity`), certificate building and parsing (`certs`), the signing
rules Istio's CA applies to a CSR (`authority`: identity only from the authenticated caller, one
URI SAN, lifetime clamped, key usage and EKU as Istio), where the CA's key material comes from
(`storage`: a self-signed root kept in the state directory, or a plug-in `cacerts` from files or
a `v1 Secret`), per-instance bearer tokens (`tokens`), and the gRPC
`istio.v1.auth.IstioCertificateService/CreateCertificate` service, the trust bundle watch and
their clients (`service`), and the control plane's own serving certificate for 15012, renewed
before it expires (`serving`).

Must not import: translate, xds, controlplane, agent, local, cli. Only `service` and `serving`
import grpc.

Errors (`pilotfish.ca.errors`): `CaError` is the base; `CsrRejected` (a request that is refused,
nothing signed), `Unauthenticated` (no or unknown credential), `CaStateError` (the CA's key
material is missing, unreadable or inconsistent: the control plane refuses to start).
"""
