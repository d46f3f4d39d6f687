"""Transparent traffic capture, as Istio's `istio-iptables` and CNI do it.

Owns: Istio's iptables rules for a pod (`rules`: pure, pod settings and
`traffic.sidecar.istio.io/*` annotations -> iptables-restore text, golden-tested) and the
network-namespace pods of the isolated local mode (`netns`: a bridge per mesh, a namespace,
veth pair and address per pod, per-pod `/etc/netns/<ns>/hosts`, and the clean-up of all of it),
and kube-proxy's service rules (`services`: pure, services' cluster IPs and ready instances ->
KUBE-SERVICES chains that DNAT to an endpoint, golden-tested). Kubernetes injection reuses
`rules` for its init step; a node without kube-proxy would use `services`.

Must not import translate, xds, agent, local, cli, kube or controlplane: the rules are a fact
about pods, not about Envoy configuration. Errors: `CaptureError` (bad annotation, a command
that failed, not root).
"""
