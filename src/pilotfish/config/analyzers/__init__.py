"""The analyzers behind `pilotfish analyze`, one module per area, with Istio's codes and wording.

`messages` (AnalysisMessage, host helpers), `documents` (plain-data access, Kubernetes label
selectors), `inventory` (the services and workloads the analysis knows: the inputs' manifest
documents, Workload/WorkloadEntry, ServiceEntries, the running mesh's registry; exportTo
visibility), `kube` (the Kubernetes objects beside the config: Pods, Services, Namespaces,
Secrets, ConfigMaps, Deployments, Gateway API Gateways), `mesh_config` (MeshConfig from
`--meshConfigFile` or the `istio` ConfigMap, MeshNetworks; IST0126), `routes` (IST0130/IST0131),
`security` (the PeerAuthentication in force), `destinations` (IST0128/IST0129), `gateway_pods`
(IST0101 selector/credentialName, IST0145, IST0161, IST0162), `gateway_certs` (IST0138), `selectors`
(Sidecar/Telemetry/AuthorizationPolicy selectors: IST0101, IST0110/0111, IST0127, IST0159/0160),
`vs_gateways` (IST0101, IST0132, IST0165), `vs_mesh_hosts` (IST0109), `vs_rules` (IST0140,
IST0149), `subsets` (IST0173/0174), `service_entries` (IST0134, IST0177), `envoy_filters`
(IST0151-0155), `deprecations` (IST0002), `telemetry_providers` (IST0157, IST0002 Lightstep),
`conditions` (IST0171), `kube_gateway_checks` (IST0166, IST0176), `webhooks` (IST0139,
IST0146/0147, IST0163/0164), `injection_images` (IST0158), `deployments` (IST0116/0137, IST0175),
`annotations` (IST0107/0108/0125/0135), `authz` (PF0101: peer identity in a policy where mTLS
is off), `kube_objects` (IST0102/0103/0118/0123/0144/0148/0150), `offline` (what istioctl skips
without a cluster);
`more` runs the topic modules and `analyze` runs them all (`analyze(result, inventory,
mesh_config)`) and holds the reference checks (IST0101 hosts and subsets, IST0106, IST0112).
Pure: no I/O (the annotation catalogue is package data read once). Imports only the rest of
`config` (hosts are compared by `config.hosts`, as everywhere): never model, registry, translate,
xds or cli.
"""
