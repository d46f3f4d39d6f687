"""Envoy's response flags (`%RESPONSE_FLAGS%` in Istio's access log, `response_flags` in its
metrics) in plain words, and which kind of Istio config usually stands behind each."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Flag:
    code: str
    words: str  # what happened, for a user
    culprit: str  # the Istio setting that usually causes it ("" = not config)


FLAGS: dict[str, Flag] = {
    f.code: f
    for f in (
        Flag("UH", "no healthy upstream: no endpoint was available to send the request to",
             "DestinationRule subset matching no pod, or outlierDetection ejected every host"),
        Flag("UF", "upstream connection failure: the connection to the destination failed",
             "the destination's app is down, or a TLS mode mismatch (DestinationRule tls / "
             "PeerAuthentication)"),
        Flag("UO", "upstream overflow: the circuit breaker was open (too many connections, "
             "pending or active requests)", "DestinationRule trafficPolicy.connectionPool"),
        Flag("NR", "no route: no route matched the request (or no filter chain matched)",
             "VirtualService http[].match that no request satisfies, or an unknown host"),
        Flag("URX", "retry limit reached: every retry attempt failed",
             "VirtualService http[].retries"),
        Flag("NC", "no cluster: the route names a destination that does not exist",
             "VirtualService route to a subset that no DestinationRule defines"),
        Flag("DT", "the request or connection exceeded its maximum duration",
             "DestinationRule connectionPool.http.maxConnectionDuration / idleTimeout"),
        Flag("DC", "downstream connection termination: the caller went away before the answer",
             ""),
        Flag("LH", "local service failed its health check", ""),
        Flag("UT", "upstream request timeout: the destination did not answer in time",
             "VirtualService http[].timeout (or perTryTimeout)"),
        Flag("LR", "connection local reset", ""),
        Flag("UR", "upstream remote reset: the destination reset the connection", ""),
        Flag("UC", "upstream connection termination: the destination closed the connection",
             "DestinationRule connectionPool (maxRequestsPerConnection, idleTimeout)"),
        Flag("DI", "delayed by fault injection", "VirtualService http[].fault.delay"),
        Flag("FI", "aborted by fault injection", "VirtualService http[].fault.abort"),
        Flag("RL", "rate limited locally", "a local rate limit (EnvoyFilter)"),
        Flag("UAEX", "denied by the external authorizer",
             "AuthorizationPolicy action: CUSTOM (its extensionProvider)"),
        Flag("RLSE", "the rate limit service failed", "a global rate limit (EnvoyFilter)"),
        Flag("IH", "invalid header value (strict header checks)", ""),
        Flag("SI", "stream idle timeout", "DestinationRule connectionPool.http.idleTimeout"),
        Flag("DPE", "downstream protocol error: the caller spoke invalid HTTP", ""),
        Flag("UPE", "upstream protocol error: the destination answered invalid HTTP",
             "a wrong protocol on the service port (port name / appProtocol)"),
        Flag("UMSDR", "upstream max stream duration reached",
             "DestinationRule connectionPool.http.maxStreamDuration"),
        Flag("OM", "overload manager terminated the request", ""),
        Flag("DF", "DNS resolution failed", "ServiceEntry resolution: DNS with a bad host"),
        Flag("DO", "dropped by overload (load shedding)", ""),
    )
}  # fmt: skip

RBAC_DENIED = "rbac_access_denied_matched_policy"
RBAC_WORDS = "denied by an authorization policy (RBAC: access denied)"


def describe_flags(flags: str) -> list[Flag]:
    """`UO,URX` -> their Flags; unknown codes are reported as such."""
    if not flags or flags == "-":
        return []
    return [FLAGS.get(code, Flag(code, f"Envoy response flag {code}", "")) for code in
            flags.split(",")]  # fmt: skip
