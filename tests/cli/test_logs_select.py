"""`logs -l` selects pods by label, the control plane (`istiod-0` in istio-system) included."""

from __future__ import annotations

from pathlib import Path

from pilotfish.cli.logs import selected_pods
from pilotfish.cli.selectors import Selector

INFO = {
    "state_dir": "/tmp/mesh",
    "proxies": {
        "istio-ingressgateway-0.istio-system": {
            "namespace": "istio-system",
            "labels": {"app": "istio-ingressgateway", "istio": "ingressgateway"},
        },
        "sleep-0.default": {"namespace": "default", "labels": {"app": "sleep"}},
    },
}


def test_istiod_is_selected_in_istio_system_only() -> None:
    ((key, pod),) = selected_pods(INFO, Selector.equal({"app": "istiod"}), "istio-system")
    assert key == "istiod-0.istio-system"
    assert pod["log"] == str(Path("/tmp/mesh/logs/controlplane.log"))
    assert selected_pods(INFO, Selector.equal({"app": "istiod"}), None) == []
    gateways = selected_pods(INFO, Selector.equal({"istio": "ingressgateway"}), "istio-system")
    assert [k for k, _ in gateways] == ["istio-ingressgateway-0.istio-system"]
    assert [k for k, _ in selected_pods(INFO, Selector.equal({"app": "sleep"}), None)] == [
        "sleep-0.default"
    ]
