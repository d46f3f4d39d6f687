<<<<<<< HEAD
"""`pilotfish.ui`: the built-in web UI (Kiali's graph, Istio's Grafana dashboards, a trace view,
the control-plane panel) and `explain` (why requests failed). It reads metrics, access logs and
the control plane's model; it never configures the mesh.

Modules: `series` (Istio's metrics as scraped from the sidecars' 15090, kept over time),
`promql` (rate / sum by / histogram_quantile over a window, Prometheus' semantics), `graph`
(Kiali's service graph), `dashboards` (Istio's mesh/service/workload panels), `control_panel`
(pilot_* metrics), `flags` + `access_log` + `explain` (failed requests in plain words and the
config object responsible), `server` (aiohttp routes + the shipped static assets).

May import: config, registry, model, telemetry, state_files, type_urls. Never translate, xds,
agent, controlplane, local or cli (the control plane hands it a `MeshSource`).
=======
"""What Istio ships as separate addons (Prometheus, Jaeger/Zipkin, Kiali, Grafana), for a local
mesh: the Prometheus server's generated configuration (`prometheus_config`) and the trace
collector (`collector`: Zipkin v2 and OTLP/HTTP in, SQLite, the Zipkin query API out).

Reads metrics and traces; never configures the mesh. Must not import translate, xds, the agent,
the control plane or kube.
>>>>>>> dfd298d (A real Prometheus: pilotfish dashboard prometheus starts Debian's prometheus with Istio's kubernetes-pods job and relabelling over file-discovered targets (pod, namespace, pod labels), ServiceMonitor (istio: pilot) scrapes the control plane, PrometheusRule becomes a rule file (reloaded on change), pilotfish down stops it; analyze warns (PF0001) on rules using metrics the mesh does not export; .ci/run installs prometheus; e2e: 80-20 by destination_version, 5xx after abort, p90 after delay, TCP bytes, Kiali labels, alert firing)
"""
