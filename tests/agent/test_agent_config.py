"""`pilotfish agent`'s flags and environment (Istio's pilot-agent names) → the agent's spec, and
the clear errors (never a traceback) for bad ones: unit tests of `load_agent_config`, plus the
command itself refusing bad input with exit code 2."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from pilotfish.agent.config import load_agent_config
from pilotfish.agent.environment import (
    agent_arguments,
    agent_environment,
    env_file_text,
    override_file,
)
from pilotfish.agent.identity import IdentitySpec
from pilotfish.agent.metrics import AppScrape
from pilotfish.agent.pod_env import AgentConfigError, read_env_file
from pilotfish.agent.spec import AgentSpec, AppSpec
from pilotfish.cli.main import main
from pilotfish.config.proxy_stats import StatsInclusion
from pilotfish.model.proxy import Proxy, ProxyType
from pilotfish.registry.workloads import Probe


@pytest.fixture
def token(tmp_path: Path) -> Path:
    path = tmp_path / "istio-token"
    path.write_text("t0k3n\n")
    return path


def base_env(tmp_path: Path) -> dict[str, str]:
    return {
        "POD_NAME": "reviews-v1-0",
        "POD_NAMESPACE": "shop",
        "INSTANCE_IP": "10.20.1.4",
        "SERVICE_ACCOUNT": "bookinfo-reviews",
        "PROXY_CONFIG": json.dumps(
            {"discoveryAddress": "10.20.0.1:15010", "configPath": str(tmp_path / "proxy")}
        ),
    }


def load(tmp_path: Path, token: Path, *argv: str, **env: str) -> object:
    return load_agent_config(["--token-path", str(token), *argv], base_env(tmp_path) | env)


def test_istio_variables_make_the_proxy(tmp_path: Path, token: Path) -> None:
    config = load_agent_config(
        ["proxy", "sidecar", "--token-path", str(token), "--concurrency", "1"],
        base_env(tmp_path)
        | {
            "ISTIO_METAJSON_LABELS": '{"app": "reviews", "version": "v1"}',
            "ISTIO_META_WORKLOAD_NAME": "reviews-v1",
            "ISTIO_META_CLUSTER_ID": "east",
            "ISTIO_META_AUTO_REGISTER_GROUP": "reviews",
            "ISTIO_META_POD_PORTS": '[{"containerPort": 9080, "protocol": "TCP"}]',
            "TRUST_DOMAIN": "example.org",
            "CA_ADDR": "10.20.0.1:15010",
            "ISTIO_DELTA_XDS": "true",
        },
    )
    spec = config.spec
    proxy = spec.proxy
    assert proxy.id == "sidecar~10.20.1.4~reviews-v1-0.shop~shop.svc.cluster.local"
    assert proxy.labels == (("app", "reviews"), ("version", "v1"))
    assert proxy.workload == "reviews-v1" and proxy.service_account == "bookinfo-reviews"
    assert proxy.app_ports == ((9080, 9080),)
    assert proxy.captured  # Istio's default interception mode, REDIRECT
    assert (spec.xds_host, spec.xds_port) == ("10.20.0.1", 15010)
    assert spec.run_dir == tmp_path / "proxy"
    assert spec.delta and spec.concurrency == 1 and spec.sidecar
    assert spec.identity is not None
    assert spec.identity.uri == "spiffe://example.org/ns/shop/sa/bookinfo-reviews"
    assert spec.identity.token_path == token
    metadata = dict(spec.extra_metadata)
    assert metadata["CLUSTER_ID"] == "east" and metadata["AUTO_REGISTER_GROUP"] == "reviews"
    assert metadata["LABELS"] == {"app": "reviews", "version": "v1"}
    assert "POD_PORTS" not in metadata


def test_defaults_are_istios(tmp_path: Path, token: Path) -> None:
    env = base_env(tmp_path)
    del env["PROXY_CONFIG"]
    config = load_agent_config(["--token-path", str(token)], env | {"INSTANCE_IP": "10.0.0.9"})
    spec = config.spec
    assert (spec.xds_host, spec.xds_port) == ("istiod.istio-system.svc", 15012)
    assert spec.run_dir == Path("./etc/istio/proxy").absolute()
    assert spec.proxy.type is ProxyType.SIDECAR and spec.concurrency == 2
    assert spec.envoy_log_level == "warning" and spec.envoy_component_log_level == "misc:error"
    assert spec.termination_drain == 5.0
    assert dict(spec.extra_metadata)["CLUSTER_ID"] == "Kubernetes"
    assert spec.identity is not None and spec.identity.ca_address == "istiod.istio-system.svc:15012"
    assert spec.identity.key_algorithm == "RSA" and spec.identity.ttl_seconds == 0
    assert config.xds_root_cert == Path("./var/run/secrets/istio/root-cert.pem").absolute()
    assert spec.app is None and spec.readiness is None and spec.app_metrics is None


def test_mesh_file_then_proxy_config_then_proxy_metadata_as_environment(
    tmp_path: Path, token: Path
) -> None:
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text(
        "defaultConfig:\n"
        "  discoveryAddress: istiod.istio-system.svc:15012\n"
        "  terminationDrainDuration: 7s\n"
        "  concurrency: 4\n"
        "  proxyMetadata:\n"
        "    SECRET_TTL: 1h\n"
        "    ECC_SIGNATURE_ALGORITHM: ECDSA\n"
        "    POD_NAMESPACE: vm-ns\n"
        "    ISTIO_META_NETWORK: vm-net\n"
    )
    env = base_env(tmp_path) | {
        "PROXY_CONFIG": '{"discoveryAddress": "10.20.0.1:15010", "concurrency": 3}'
    }
    spec = load_agent_config(["--token-path", str(token), "--meshConfig", str(mesh)], env).spec
    assert (spec.xds_host, spec.concurrency, spec.termination_drain) == ("10.20.0.1", 3, 7.0)
    assert spec.identity is not None
    assert spec.identity.ttl_seconds == 3600 and spec.identity.key_algorithm == "EC"
    assert spec.proxy.namespace == "vm-ns"  # proxyMetadata entries act as environment
    assert dict(spec.extra_metadata)["NETWORK"] == "vm-net"


def test_probers_and_prometheus_annotations_as_the_injector_writes_them(
    tmp_path: Path, token: Path
) -> None:
    probers = {
        "/app-health/reviews/livez": {"tcpSocket": {"port": 9080}},
        "/app-health/reviews/readyz": {
            "httpGet": {
                "path": "/health",
                "port": 9080,
                "scheme": "HTTP",
                "httpHeaders": [{"name": "X-Probe", "value": "1"}],
            },
            "timeoutSeconds": 3,
        },
    }
    config = load(
        tmp_path,
        token,
        ISTIO_KUBE_APP_PROBERS=json.dumps(probers),
        ISTIO_PROMETHEUS_ANNOTATIONS='{"scrape": "true", "port": "9090", "path": "stats"}',
        ISTIO_META_POD_PORTS='[{"containerPort": 9080}, {"containerPort": 9090}]',
    )
    spec = config.spec  # type: ignore[attr-defined]
    assert spec.readiness == Probe(
        "reviews", "http", 9080, "/health", "HTTP", (("X-Probe", "1"),), timeout_seconds=3
    )
    assert (spec.app_metrics.port, spec.app_metrics.path) == (9090, "/stats")
    tcp = load(
        tmp_path,
        token,
        ISTIO_KUBE_APP_PROBERS='{"/app-health/db/readyz": {"tcpSocket": {"port": 5432}}}',
    )
    assert tcp.spec.readiness == Probe("db", "tcp", 5432)  # type: ignore[attr-defined]


def test_the_app_after_the_double_dash_with_its_environment_file(
    tmp_path: Path, token: Path
) -> None:
    env_file = tmp_path / "app.env"
    env_file.write_text("# the app's own\nGREETING='hello world'\nexport LEVEL=3\n\nEMPTY=\n")
    config = load(
        tmp_path,
        token,
        "--app-env-file",
        str(env_file),
        "--app-dir",
        str(tmp_path),
        "--",
        "python3",
        "-m",
        "http.server",
        "--bind",
        "0.0.0.0",
    )
    app = config.spec.app  # type: ignore[attr-defined]
    assert app.command == ("python3", "-m", "http.server", "--bind", "0.0.0.0")
    assert dict(app.env) == {"GREETING": "hello world", "LEVEL": "3", "EMPTY": ""}
    assert app.workdir == str(tmp_path)
    env_file.write_text('{"A": "1"}')
    assert read_env_file(env_file) == {"A": "1"}


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--bogus"], {}, "unrecognized arguments: --bogus"),
        (["gateway"], {}, "proxy type 'gateway': sidecar or router"),
        (["proxy", "sidecar", "extra"], {}, "unexpected arguments 'extra'"),
        (["--concurrency", "x"], {}, "--concurrency: invalid int value"),
        (["--proxyLogLevel", "loud"], {}, "'loud' is not one of"),
        (["--meshConfig", "/nonexistent/mesh"], {}, "--meshConfig /nonexistent/mesh: no such"),
        (["--app-dir", "/tmp"], {}, "need an app"),
        ([], {"PROXY_CONFIG": "[1, 2]"}, "PROXY_CONFIG: must be a map"),
        ([], {"PROXY_CONFIG": "{a: [}"}, "PROXY_CONFIG: not YAML or JSON"),
        ([], {"PROXY_CONFIG": '{"discoveryAddress": "nohost"}'}, "expected HOST:PORT"),
        ([], {"PROXY_CONFIG": '{"concurrency": "many"}'}, "ProxyConfig.concurrency"),
        ([], {"PROXY_CONFIG": '{"terminationDrainDuration": "soon"}'}, "terminationDrain"),
        ([], {"ISTIO_METAJSON_LABELS": '["app"]'}, "ISTIO_METAJSON_LABELS: expected a JSON"),
        ([], {"ISTIO_META_POD_PORTS": '[{"name": "http"}]'}, "POD_PORTS[0].containerPort"),
        ([], {"ISTIO_META_INTERCEPTION_MODE": "TPROXY"}, "supports REDIRECT or NONE"),
        ([], {"ISTIO_KUBE_APP_PROBERS": "{"}, "ISTIO_KUBE_APP_PROBERS: not JSON"),
        ([], {"SECRET_TTL": "forever"}, "environment.SECRET_TTL"),
        ([], {"ECC_SIGNATURE_ALGORITHM": "DSA"}, "environment.ECC_SIGNATURE_ALGORITHM"),
        ([], {"PILOT_CERT_PROVIDER": "vault"}, "PILOT_CERT_PROVIDER='vault'"),
        ([], {"CA_ADDR": "ca"}, "CA_ADDR 'ca': expected HOST:PORT"),
        (["--restart-policy", "Sometimes"], {}, "argument --restart-policy: invalid choice"),
    ],
)
def test_bad_flags_and_environment_say_what_is_wrong(
    tmp_path: Path, token: Path, argv: list[str], env: dict[str, str], message: str
) -> None:
    with pytest.raises(AgentConfigError) as caught:
        load_agent_config(["--token-path", str(token), *argv], base_env(tmp_path) | env)
    assert message in str(caught.value)


def test_a_missing_token_is_named(tmp_path: Path) -> None:
    with pytest.raises(AgentConfigError, match=r"--token-path .*nope: no token file"):
        load_agent_config(["--token-path", str(tmp_path / "nope")], base_env(tmp_path))


def test_the_command_refuses_bad_input_with_exit_code_2_and_no_traceback(
    tmp_path: Path,
    token: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in (base_env(tmp_path) | {"ISTIO_METAJSON_LABELS": "{oops"}).items():
        monkeypatch.setenv(name, value)
    argv = ["pilotfish", "agent", "--token-path", str(token), "--", "true"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: pilotfish agent: ISTIO_METAJSON_LABELS: not JSON"), err
    assert "Traceback" not in err


def test_what_the_launcher_writes_loads_back_as_the_same_spec(tmp_path: Path, token: Path) -> None:
    """`agent_environment` + `agent_arguments` (the injector's side) are the inverse of
    `load_agent_config`: an isolated pod's agent process runs exactly the launcher's spec."""
    probe = Probe("reviews", "http", 9080, "/ready", "HTTP", (("X-A", "b"),), 0, 2)
    spec = AgentSpec(
        proxy=Proxy(
            type=ProxyType.SIDECAR,
            ip="10.30.1.7",
            instance="reviews-v2-0",
            namespace="shop",
            labels=(("app", "reviews"), ("version", "v2")),
            workload="reviews-v2",
            service_account="bookinfo-reviews",
            app_ports=((9080, 9080), (9090, 9090)),
            interception="REDIRECT",
        ),
        xds_host="10.30.0.1",
        xds_port=15010,
        run_dir=tmp_path / "run",
        app=AppSpec(("python3", "-m", "reviews"), (("A", "1"),), str(tmp_path)),
        delta=True,
        envoy_component_log_level="misc:error",
        concurrency=1,
        app_metrics=AppScrape(9090, "/metrics"),
        identity=IdentitySpec(
            "10.30.0.1:15010", token, "spiffe://td.example/ns/shop/sa/bookinfo-reviews", 600, "EC"
        ),
        termination_drain=0.5,
        readiness=probe,
        restart_policy="OnFailure",
        hold_application=True,
        stats_inclusion=StatsInclusion(("cluster.outbound", "listener.{pod_ip}_"), None, ("a.*",)),
    )
    env_file = tmp_path / "app-env.json"
    env_file.write_text(env_file_text(dict(spec.app.env)))  # type: ignore[union-attr]
    args = agent_arguments(spec, env_file)
    loaded = load_agent_config(args, {"PATH": "/bin"} | agent_environment(spec)).spec
    metadata = dict(loaded.extra_metadata)
    assert metadata["INTERCEPTION_MODE"] == "REDIRECT" and metadata["CLUSTER_ID"] == "Kubernetes"
    assert replace(loaded, extra_metadata=()) == spec


def test_istio_bootstrap_override_is_read_as_pilot_agent_reads_it(
    tmp_path: Path, token: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`ISTIO_BOOTSTRAP_OVERRIDE` names a YAML or JSON file (`$(HOST_IP)` replaced): Envoy's
    `--config-yaml`; a file that cannot be read is logged and Envoy starts without it. What an
    isolated pod's launcher writes (`override_file`) loads back as the launcher's spec."""
    path = tmp_path / "custom_bootstrap.json"
    path.write_text('"admin":\n  "address": "$(HOST_IP)"\n')
    args = ["--token-path", str(token)]
    env = base_env(tmp_path) | {"ISTIO_BOOTSTRAP_OVERRIDE": str(path), "HOST_IP": "10.0.0.7"}
    spec = load_agent_config(args, env).spec
    assert json.loads(spec.bootstrap_override) == {"admin": {"address": "10.0.0.7"}}
    env["ISTIO_BOOTSTRAP_OVERRIDE"] = str(tmp_path / "nope")
    missing = load_agent_config(args, env).spec
    assert missing.bootstrap_override == ""
    assert "Failed to read bootstrap override" in caplog.text
    launched = replace(missing, run_dir=tmp_path / "run", bootstrap_override='{"a": 1}')
    override_file(launched.run_dir).parent.mkdir(parents=True)
    override_file(launched.run_dir).write_text(launched.bootstrap_override)
    written = agent_environment(launched)
    assert written["ISTIO_BOOTSTRAP_OVERRIDE"] == str(tmp_path / "run" / "custom_bootstrap.json")
    loaded = load_agent_config(args, base_env(tmp_path) | written).spec
    assert loaded.bootstrap_override == '{"a": 1}'


def test_every_containers_probe_reaches_the_agent_process(tmp_path: Path, token: Path) -> None:
    """ISTIO_KUBE_APP_PROBERS holds every container's rewritten probe, as Istio's injector
    writes it: the agent inside an isolated pod serves the other containers' too."""
    first = Probe("web", "http", 8080, "/ready")
    helper = Probe("helper", "tcp", 9000)
    spec = AgentSpec(
        proxy=Proxy(type=ProxyType.SIDECAR, ip="10.30.1.8", instance="web-0", namespace="shop",
                    labels=(("app", "web"),), app_ports=((8080, 8080), (9000, 9000))),
        xds_host="10.30.0.1",
        xds_port=15010,
        run_dir=tmp_path / "run",
        readiness=first,
        siblings=(AppSpec(("true",), (), str(tmp_path), name="helper", readiness=helper),),
    )  # fmt: skip
    env = agent_environment(spec)
    assert sorted(json.loads(env["ISTIO_KUBE_APP_PROBERS"])) == [
        "/app-health/helper/readyz", "/app-health/web/readyz",
    ]  # fmt: skip
    loaded = load_agent_config(["--token-path", str(token)], {"PATH": "/bin"} | env).spec
    assert {p.container: p for p in (loaded.readiness, *loaded.served_probes) if p} == {
        "web": first, "helper": helper,
    }  # fmt: skip


def test_liveness_and_startup_probes_are_rewritten_as_the_injector_does(
    tmp_path: Path, token: Path
) -> None:
    """Every container's httpGet, tcpSocket and grpc liveness and startup probes join its
    readiness probe in ISTIO_KUBE_APP_PROBERS (`/app-health/<container>/livez`, `/startupz`;
    an exec probe stays the kubelet's), in Go's compact JSON; the agent process serves each.
    With `rewriteAppHTTPProbers: "false"` the injector writes none."""
    live = Probe("web", "http", 8080, "/foo", period_seconds=5, initial_delay_seconds=5,
                 endpoint="livez")  # fmt: skip
    start = Probe("web", "grpc", 9000, service="web", timeout_seconds=2, endpoint="startupz")
    helper = Probe("helper", "tcp", 9100, endpoint="livez")
    spec = AgentSpec(
        proxy=Proxy(type=ProxyType.SIDECAR, ip="10.30.1.9", instance="web-0", namespace="shop",
                    labels=(("app", "web"),), app_ports=((8080, 8080), (9000, 9000))),
        xds_host="10.30.0.1",
        xds_port=15010,
        run_dir=tmp_path / "run",
        app=AppSpec(("true",), (), str(tmp_path), name="web", liveness=live, startup=start),
        siblings=(AppSpec(("true",), (), str(tmp_path), name="helper", liveness=helper,
                          startup=Probe("helper", "exec", command=("true",),
                                        endpoint="startupz")),),
    )  # fmt: skip
    env = agent_environment(spec)
    assert env["ISTIO_KUBE_APP_PROBERS"] == (
        '{"/app-health/helper/livez":{"tcpSocket":{"port":9100},"timeoutSeconds":1},'
        '"/app-health/web/livez":{"httpGet":{"path":"/foo","port":8080,"scheme":"HTTP"},'
        '"timeoutSeconds":1},'
        '"/app-health/web/startupz":{"grpc":{"port":9000,"service":"web"},"timeoutSeconds":2}}'
    )
    loaded = load_agent_config(["--token-path", str(token)], {"PATH": "/bin"} | env).spec
    served = {(p.container, p.endpoint): p for p in loaded.served_probes}
    assert loaded.readiness is None
    assert served == {
        ("helper", "livez"): helper,
        ("web", "livez"): replace(live, period_seconds=10, initial_delay_seconds=0),
        ("web", "startupz"): start,
    }  # the kubelet keeps the timing: the agent needs the action and its timeout
    assert "ISTIO_KUBE_APP_PROBERS" not in agent_environment(replace(spec, rewrite_probes=False))
