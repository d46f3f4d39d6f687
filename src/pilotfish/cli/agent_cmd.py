"""`pilotfish agent [proxy] [sidecar|router] [FLAGS] [-- APP…]`: one pod's pilot-agent as a
process (Istio's `pilot-agent proxy sidecar`). Its flags and environment are read by
`pilotfish.agent.config`; the process is `pilotfish.agent.run`. A bad flag, variable or file is
reported as `error: …` with exit code 2, before anything starts.
"""

from __future__ import annotations

import os

from pilotfish.agent.config import load_agent_config
from pilotfish.agent.pod_env import AgentConfigError
from pilotfish.agent.run import run_agent
from pilotfish.cli.errors import UserError

USAGE = """usage: pilotfish agent [proxy] [sidecar|router] [--meshConfig FILE]
         [--proxyLogLevel LEVEL] [--proxyComponentLogLevel LEVELS] [--concurrency N]
         [--log_output_level LEVEL]
         [--token-path FILE] [--app-env-file FILE] [--app-dir DIR]
         [--restart-policy Always|OnFailure|Never] [-- APP COMMAND…]

Runs one pod's pilot-agent: Envoy's bootstrap and supervision, the workload certificate over SDS,
merged metrics and app probes on 15020, readiness on 15021, a graceful drain on SIGTERM.
Configured as Istio's proxy is: PROXY_CONFIG (discoveryAddress, configPath,
terminationDrainDuration, proxyMetadata…), POD_NAME, POD_NAMESPACE, INSTANCE_IP, SERVICE_ACCOUNT,
TRUST_DOMAIN, CA_ADDR, PILOT_CERT_PROVIDER, ISTIO_META_* (CLUSTER_ID, INTERCEPTION_MODE,
WORKLOAD_NAME, POD_PORTS), ISTIO_METAJSON_LABELS, ISTIO_KUBE_APP_PROBERS,
ISTIO_PROMETHEUS_ANNOTATIONS, SECRET_TTL, ECC_SIGNATURE_ALGORITHM, ISTIO_DELTA_XDS.
"""


def agent_command(args: list[str], argv: list[str]) -> int:
    """`args`: what the command line parser kept after `agent` (it drops a `--`); `argv`: the
    raw command line, where the app's command follows the first `--`."""
    if any(a in ("-h", "--help") for a in args[: _flag_count(args, argv)]):
        print(USAGE, end="")
        return 0
    count = _flag_count(args, argv)
    split = [*args[:count], "--", *args[count:]] if count < len(args) else args
    try:
        config = load_agent_config(split, os.environ)
    except AgentConfigError as exc:
        raise UserError(f"pilotfish agent: {exc}", code=2) from None
    return run_agent(config)


def _flag_count(args: list[str], argv: list[str]) -> int:
    """How many of `args` come before the `--` of the raw command line."""
    if "--" not in argv:
        return len(args)
    app = argv[argv.index("--") + 1 :]
    return len(args) - len(app)
