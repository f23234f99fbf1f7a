"""The stack over the network test bed, for a scenario that names a topology (`network:`,
`loadtest.network.topology_file`): the local stack's parts (`loadtest.harness.stack`), each in
the namespace of the host the topology gives it, so that every hop between them is a real link
with its delay, and the network's disruptions can cut or shape it:

- each region: the simulated cloud as the demo's region of that name (`deploy/local/
  mock-cloud.yaml`) with no simulated distance (`rtt_ms` 0: the link is the distance; its TTFT
  and token speed, the model's own time, are the demo's), its API on all of its addresses, its
  control API on its control link alone;
- Redis: `redis-server` on its link to the PoP and its control link;
- the PoP: `edge-router serve` and the edge worker it spawns (on the PoP's own loopback), on the
  demo's node config rewired to the regions' and Redis's addresses on their links to the PoP,
  listening on its link to `here`;
- `here`, the suite's own namespace: the load generator, which reaches the router over its link
  to the PoP, and the harness, which reaches the regions' control APIs and Redis over the control
  links the topology file adds (no delay, never cut: a management network).

Each part has a namespace of its own, so the ports are fixed. Every process is started through
`ip netns exec` in a session of its own (`Processes`) and stopped at the end, whatever happened,
before the test bed removes the namespaces and its relay.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import yaml

from loadtest.harness.processes import Processes, wait_ready
from loadtest.harness.stack_config import (
    POLICIES_DIR,
    InPlace,
    StackError,
    Wiring,
    demo_cloud,
    demo_node,
    mock_cloud_argv,
    node_config,
)
from loadtest.harness.stack_parts import StackParts
from loadtest.harness.stack_redis import RedisServer
from loadtest.harness.stack_router import RouterProcess
from loadtest.network.testbed import HERE, TestBed
from loadtest.network.topology_file import TopologyFile

REGION_PORT: Final = 9101
CONTROL_PORT: Final = 9100
REDIS_PORT: Final = 6379
ROUTER_PORT: Final = 8080
EDGE_WORKER_PORT: Final = 8300
_CLOUD_READY_S: Final = 30.0
# Whether a URL on a namespace's own loopback answers 200 (the edge worker's, on the PoP's).
_PROBE: Final = (
    "import sys, urllib.request\n"
    "try:\n"
    "    ok = urllib.request.urlopen(sys.argv[1], timeout=1.0).status == 200\n"
    "except OSError:\n"
    "    ok = False\n"
    "sys.exit(0 if ok else 1)\n"
)


def region_cloud_config(demo: dict[str, Any], region: str, control_host: str) -> dict[str, Any]:
    """The demo's region `region` alone, as a cloud of its own: on every address of its
    namespace, with no simulated round trip (the link is the distance), its control API on
    `control_host`."""
    (settings,) = [each for each in demo["regions"] if each["name"] == region]
    placed = {**settings, "host": "0.0.0.0", "port": REGION_PORT, "rtt_ms": 0, "rtt_jitter": 0}
    return {**demo, "control": {"host": control_host, "port": CONTROL_PORT}, "regions": [placed]}


class NetworkStack(StackParts):
    """The started stack over the test bed, and what the disruptions do to it. Built by
    `network_stack()`."""

    control_url: str | None = None  # each region's cloud has its own control API

    def __init__(
        self,
        directory: Path,
        processes: Processes,
        topology: TopologyFile,
        bed: TestBed,
        workers: int = 1,
    ) -> None:
        self.topology = topology
        self.bed = bed
        router = RouterProcess(processes, directory, workers, self._in(topology.pop))
        host = topology.redis
        bind = (bed.address(host, seen_from=topology.pop), bed.address(host, seen_from=HERE))
        redis = RedisServer(processes, directory, bind, REDIS_PORT, bind[1], self._in(host))
        super().__init__(directory, processes, router, redis)

    def _in(self, host: str) -> InPlace:
        namespace = self.bed.namespace(host)

        def in_namespace(argv: Sequence[str]) -> list[str]:
            return ["ip", "netns", "exec", namespace, *argv]

        return in_namespace

    def _from_here(self, host: str) -> str:
        return self.bed.address(host, seen_from=HERE)

    @property
    def router_url(self) -> str:
        return f"http://{self._from_here(self.topology.pop)}:{ROUTER_PORT}"

    @property
    def region_names(self) -> tuple[str, ...]:
        return self.topology.regions

    def region_control_url(self, region: str) -> str:
        return f"http://{self._from_here(region)}:{CONTROL_PORT}/control/regions/{region}"

    def region_url(self, region: str) -> str:
        return f"http://{self._from_here(region)}:{REGION_PORT}/v1"

    def start(self) -> None:
        demo = demo_cloud()
        named = sorted(region["name"] for region in demo["regions"])
        if named != sorted(self.topology.regions):
            raise StackError(
                f"topology {self.topology.name!r}: regions must be the demo cloud's, whose "
                f"names its node config's endpoints carry: {', '.join(named)}"
            )
        shutil.copytree(POLICIES_DIR, self.policy_dir)
        clouds = {region: self._start_cloud(demo, region) for region in self.topology.regions}
        for region, cloud in clouds.items():
            url = self.region_control_url(region).rsplit("/", 1)[0]
            wait_ready(self.processes, f"cloud-{region}", cloud, url, _CLOUD_READY_S)
        self.redis.start()
        node = node_config(demo_node(), self._wiring(), self.policy_dir)
        self.router.start(node, self.router_url)

    def _start_cloud(self, demo: dict[str, Any], region: str) -> subprocess.Popen[bytes]:
        config = region_cloud_config(demo, region, self._from_here(region))
        config_file = self.directory / f"cloud-{region}.yaml"
        config_file.write_text(yaml.safe_dump(config))
        argv = self._in(region)(mock_cloud_argv(config_file))
        return self.processes.start(f"cloud-{region}", argv, None)

    def _wiring(self) -> Wiring:
        """Each part as the PoP reaches it, over its link; the router on its link to `here`."""
        pop, redis = self.topology.pop, self.topology.redis
        urls = {
            region: f"http://{self.bed.address(region, seen_from=pop)}:{REGION_PORT}/v1"
            for region in self.topology.regions
        }
        redis_url = f"redis://{self.bed.address(redis, seen_from=pop)}:{REDIS_PORT}/0"
        return Wiring(self._from_here(pop), ROUTER_PORT, urls, redis_url, EDGE_WORKER_PORT)

    def edge_worker_answers(self) -> bool:
        """Asked from inside the PoP's namespace: the worker listens on its loopback alone."""
        url = f"http://127.0.0.1:{EDGE_WORKER_PORT}/v1/models"
        argv = self._in(self.topology.pop)([sys.executable, "-c", _PROBE, url])
        try:
            probe = subprocess.run(argv, capture_output=True, timeout=10, check=False)
        except subprocess.TimeoutExpired:
            return False
        return probe.returncode == 0


@contextlib.contextmanager
def network_stack(
    topology: TopologyFile, keep_logs: bool = False, workers: int = 1
) -> Iterator[NetworkStack]:
    """The stack over `topology`, started; every process stopped, then the test bed's namespaces
    and relay removed, then the directory, on exit."""
    directory = Path(tempfile.mkdtemp(prefix="loadtest-network-"))
    processes = Processes(directory)
    try:
        with TestBed(topology.bed_topology()) as bed:
            stack = NetworkStack(directory, processes, topology, bed, workers)
            try:
                stack.start()
                yield stack
            finally:
                stack.stop()
    except BaseException:
        keep_logs = True
        raise
    finally:
        processes.finish(keep_logs)
