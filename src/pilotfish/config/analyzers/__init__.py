"""The analyzers behind `pilotfish analyze`, one module per area, with Istio's codes and wording.

`messages` (AnalysisMessage, host helpers), `inventory` (the services and workloads the analysis
knows: the inputs' manifest documents, Workload/WorkloadEntry, ServiceEntries, the running mesh's
registry), `kube` (the Kubernetes objects beside the config: Pods, Services, Namespaces, Secrets,
ConfigMaps, Deployments, Gateway API Gateways), `routes` (IST0130/IST0131), `security` (IST0113),
`destinations` (IST0128/IST0129), `gateway_pods` (IST0101 selector/credentialName, IST0145,
IST0161, IST0162), `selectors` (Sidecar/Telemetry/AuthorizationPolicy selectors: IST0101,
IST0110/0111, IST0127, IST0159/0160), `vs_gateways` (IST0101, IST0132, IST0165), `kube_objects`
(IST0102/0103/0118/0123/0144/0148/0150); `analyze` runs them all (`analyze(result, inventory)`)
and holds the reference checks (IST0101 hosts and subsets, IST0106, IST0109, IST0112, IST0122,
IST0134). Pure: no I/O. Imports only the rest of `config` (hosts are compared by `config.hosts`,
as everywhere): never model, registry, translate, xds or cli.
"""
