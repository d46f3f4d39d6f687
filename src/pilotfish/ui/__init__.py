"""`pilotfish.ui`: the built-in web UI (Kiali's graph, Istio's Grafana dashboards, a trace view,
the control-plane panel) and `explain` (why requests failed), plus what Istio ships as separate
addons for a local mesh: the Prometheus server's generated configuration (`prometheus_config`)
and the trace collector (`collector`: the Zipkin v2 API over SQLite). It reads metrics, traces,
access logs and the control plane's model; it never configures the mesh.

Modules: `series` (Istio's metrics as scraped from the sidecars' 15090, kept over time),
`scraper` (that scrape, in the background), `prometheus_reader` (the same rates from the mesh's
Prometheus when one runs), `promql` (rate / sum by / histogram_quantile over a window,
Prometheus' semantics), `graph` (Kiali's service graph), `dashboards` (Istio's
mesh/service/workload panels), `answers` (their answers, prepared before a round is shown),
`control_panel` (pilot_* metrics), `flags` + `access_log` + `explain` (failed requests in plain
words and the config object responsible), `server` (aiohttp routes + the shipped static
assets), `guard` (only this machine, or the UI token, reads the UI), `prometheus_config`,
`collector`.

May import: config, registry, model, telemetry, state_files, type_urls. Never translate, xds,
agent, controlplane, local or cli (the control plane hands it a `MeshSource`).
"""
