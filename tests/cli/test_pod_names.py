"""Naming a pod on the command line (`cli.pods`): `NAME.NS` read at the last dot, and a pod name
with dots (a Deployment's name is a DNS subdomain) read whole first."""

from __future__ import annotations

import re

import pytest

from pilotfish.cli.pods import PodNotFound, resolve_pod

INFO = {
    "proxies": {
        f"{name}.{ns}": {"instance": name, "namespace": ns, "workload": name.rsplit("-", 1)[0]}
        for name, ns in (
            ("helloworld-region1.zone1-0", "sample"),
            ("curl-0", "sample"),
            ("sleep-0", "default"),
        )
    }
}


@pytest.mark.parametrize(
    ("name", "namespace", "key"),
    [
        ("helloworld-region1.zone1-0", "sample", "helloworld-region1.zone1-0.sample"),
        ("helloworld-region1.zone1-0.sample", None, "helloworld-region1.zone1-0.sample"),
        ("deploy/helloworld-region1.zone1", "sample", "helloworld-region1.zone1-0.sample"),
        ("helloworld-region1.zone1-0", None, "helloworld-region1.zone1-0.sample"),
        ("curl-0.sample", None, "curl-0.sample"),
        ("sleep-0", None, "sleep-0.default"),
    ],
)
def test_pods_are_found_by_every_name_kubectl_takes(
    name: str, namespace: str | None, key: str
) -> None:
    assert resolve_pod(INFO, name, namespace)[0] == key


def test_a_missing_pod_is_named_as_kubectl_names_it() -> None:
    with pytest.raises(PodNotFound, match='pods "curl-0" not found in namespace "nosuch"'):
        resolve_pod(INFO, "curl-0.nosuch")
    with pytest.raises(
        PodNotFound, match=re.escape('pods "curl-0.sample" not found in namespace "x"')
    ):
        resolve_pod(INFO, "curl-0.sample", "x")
