"""Services and endpoints hash as the frozen dataclasses they are (by every field), with the
hash made once per object: they are parts of translation's memo keys, looked up thousands of
times a change (`registry.types._fields_hash`)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pilotfish.registry.types import Endpoint, Protocol, Service, ServicePort

PORT = ServicePort("http", 8080, Protocol.HTTP, 8080)


def test_equal_services_and_endpoints_hash_alike_and_any_other_field_differs() -> None:
    service = Service("reviews", "bookinfo", (PORT,), selector=(("app", "reviews"),))
    same = Service("reviews", "bookinfo", (PORT,), selector=(("app", "reviews"),))
    assert service == same and hash(service) == hash(same)
    assert {service: 1}[same] == 1
    for changed in (
        replace(service, namespace="other"),
        replace(service, ports=(replace(PORT, port=9080),)),
        replace(service, export_to=(".",)),
    ):
        assert changed != service and hash(changed) != hash(service)
        assert changed not in {service: 1}
    endpoint = Endpoint("127.0.0.1", 9080, (("app", "reviews"),), "reviews-0")
    assert hash(endpoint) == hash(Endpoint("127.0.0.1", 9080, (("app", "reviews"),), "reviews-0"))
    assert hash(replace(endpoint, healthy=False)) != hash(endpoint)


def test_a_service_hashes_its_fields_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The generated hash hashed every field, its ports included, on each look-up (fails
    then: the port is hashed again)."""
    hashed: list[ServicePort] = []
    real = ServicePort.__hash__

    def counted(port: ServicePort) -> int:
        hashed.append(port)
        return real(port)

    monkeypatch.setattr(ServicePort, "__hash__", counted)
    service = Service("ratings", "bookinfo", (PORT,))
    for _ in range(3):
        hash(service)
        hash(("key", service, 1))
    assert hashed == [PORT]
