"""The ports of Istio's sidecar that its agent and the CLI talk to: Envoy's admin (15000), the
agent's merged metrics and app probes (15020), readiness (15021) and Envoy's Prometheus stats
(15090). One place, imported by what needs only the numbers (no Envoy protos come with it).
"""

ADMIN_PORT = 15000
MERGED_PORT = 15020
HEALTH_PORT = 15021
STATS_PORT = 15090
