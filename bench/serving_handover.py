"""What handing published snapshots to a serving process would cost (issue 9: a prototype
measurement for serving the ADS streams from a second process, in process, no sockets).

    .venv/bin/python bench/serving_handover.py [--services 1000] [--proxies 2000]

`ControlPlane` as bench/on_demand_routes_cpu.py drives it (every proxy connects as a delta
sidecar with on-demand clusters and virtual hosts and asks for two services' clusters and
virtual hosts): every snapshot it publishes during that connect storm is encoded as a serving
process would be sent it — content-addressed: a type's resources, or one resource, the other
side already holds is sent as its key only — pickled, and decoded as that process would
(`EncodedResource` and `TypeResources` rebuilt, shared by key). Prints the snapshots handed
over, the bytes, and the CPU of encoding and decoding them.
"""

from __future__ import annotations

import argparse
import pickle
import tempfile
import time
from pathlib import Path

from scale_mesh import Topology

from pilotfish.controlplane.core import ControlPlane
from pilotfish.controlplane.instances import instance_from_json
from pilotfish.model.node import DELTA_XDS_KEY
from pilotfish.xds.encoding import EncodedResource
from pilotfish.xds.resources import Snapshot, TypeResources

Entry = tuple[str, str, tuple[bytes, bytes, bytes] | None]  # name, version, body if new


class Handover:
    """Both ends of the hand-over, with the CPU each spent."""

    def __init__(self) -> None:
        self.sent_types: set[tuple[str, str]] = set()
        self.sent: set[tuple[str, str, str]] = set()
        self.types: dict[tuple[str, str], TypeResources] = {}  # the serving side's
        self.resources: dict[tuple[str, str, str], EncodedResource] = {}
        self.nodes: dict[str, dict[str, TypeResources]] = {}
        self.encode_s = self.decode_s = 0.0
        self.count = self.size = 0

    def published(self, node_id: str, snapshot: Snapshot, _changed_at: float) -> None:
        started = time.process_time()
        data = self.encode(node_id, snapshot)
        encoded = time.process_time()
        self.decode(data)
        self.encode_s += encoded - started
        self.decode_s += time.process_time() - encoded
        self.count, self.size = self.count + 1, self.size + len(data)

    def encode(self, node_id: str, snapshot: Snapshot) -> bytes:
        types: list[tuple[str, str, list[Entry] | None]] = []
        for type_url in snapshot.type_urls():
            found = snapshot.resources(type_url)
            if (type_url, found.version) in self.sent_types:
                types.append((type_url, found.version, None))
                continue
            self.sent_types.add((type_url, found.version))
            entries: list[Entry] = []
            for name, resource in found.by_name.items():
                key = (type_url, name, resource.version)
                body = (resource.any_bytes, resource.delta_head, resource.delta_tail)
                entries.append((name, resource.version, None if key in self.sent else body))
                self.sent.add(key)
            types.append((type_url, found.version, entries))
        return pickle.dumps((node_id, snapshot.version, types), protocol=5)

    def decode(self, data: bytes) -> tuple[str, str, dict[str, TypeResources]]:
        """(node id, snapshot version, its resources by type), as the serving side holds them."""
        node_id, version, types = pickle.loads(data)
        held: dict[str, TypeResources] = {}
        for type_url, type_version, entries in types:
            if entries is None:
                held[type_url] = self.types[type_url, type_version]
                continue
            by_name = {}
            for name, resource_version, body in entries:
                key = (type_url, name, resource_version)
                if body is not None:
                    self.resources[key] = EncodedResource(name, resource_version, *body)
                by_name[name] = self.resources[key]
            held[type_url] = self.types[type_url, type_version] = TypeResources(
                type_url, by_name, type_version
            )
        self.nodes[node_id] = held
        return node_id, version, held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--proxies", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pilotfish-handover-") as home:
        topo = Topology(args.services, args.proxies)
        cp = ControlPlane(Path(home), on_demand_clusters=True, on_demand_routes=True)
        cp.load_state()
        assert cp.apply([("m.yaml", topo.manifest_yaml()), ("c.yaml", topo.config_yaml())]).ok
        cp.connected = lambda: list(cp.proxies)
        instances = topo.instances()
        cp.set_instances([instance_from_json(i.row()) for i in instances])
        handover = Handover()
        cp.cache.watch(handover.published)
        names = topo.names
        started = time.process_time()
        for n, instance in enumerate(instances):
            metadata = instance.metadata(9000) | {DELTA_XDS_KEY: "true"}
            cp.snapshot_for_node(instance.node_id, metadata)
            called = [(n + k) % len(names) for k in (1, 7)]
            cp.demand(instance.node_id, tuple(topo.cluster(i) for i in called))
            hosts = tuple(f"http_proxy/{names[i][1]}.{names[i][0]}:8080" for i in called)
            cp.demand_hosts(instance.node_id, hosts)
        total = time.process_time() - started
    count = max(handover.count, 1)
    print(
        f"connect {len(instances)}: {total:.2f} s CPU in all; {handover.count} snapshots handed "
        f"over, {handover.size / 1e6:.1f} MB; encode {handover.encode_s:.2f} s, decode "
        f"{handover.decode_s:.2f} s ({handover.encode_s / count * 1e6:.0f} / "
        f"{handover.decode_s / count * 1e6:.0f} us each)"
    )


if __name__ == "__main__":
    main()
