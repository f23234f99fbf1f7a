"""The local stack the suite starts itself, for the scenarios that disrupt what surrounds the
router (`disruption:` in a phase, `loadtest.harness.disruptions`): the simulated cloud with the
local demo's three regions, a real `redis-server`, and `edge-router serve` in front of them with
its edge worker, all on free loopback ports, their files in a temporary directory.

The router's node config is the demo's (`deploy/local/node.yaml`) with its endpoints pointed at
this cloud, its limits counted in this Redis, its edge worker on a port of its own and, as its
policy directory, a writable copy of `policies/` (a reload storm rewrites a tenant's file there).
Every process runs in a session of its own (`Processes`) and every one is stopped at the end,
whatever happened: a Redis left stopped with SIGSTOP is continued first, and an edge worker the
router did not stop is killed. The router is a subprocess (`edge-router` next to this Python):
the suite never imports it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from loadtest.harness.processes import Processes, wait_ready
from loadtest.harness.proxy_settings import LOOPBACK, REPO_ROOT

DEMO_DIR: Final = REPO_ROOT / "deploy" / "local"
POLICIES_DIR: Final = REPO_ROOT / "policies"
# The demo's key (its hash is in policies/default.yaml) and the tenant it belongs to.
DEMO_KEY: Final = "sk-edge-demo"
DEMO_TENANT: Final = "default"
# The model the demo's edge worker serves (deploy/local/node.yaml, the alias of the same name).
LOCAL_MODEL: Final = "smollm2-135m-instruct"

_READY_TIMEOUT_S: Final = 120.0  # the router's /readyz waits for the worker's models to load
_REDIS_START_TIMEOUT_S: Final = 10.0
_WORKER_EXIT_WAIT_S: Final = 10.0


class StackError(RuntimeError):
    """The stack could not start, or a part of it did not do what was asked."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class StackPorts:
    router: int
    control: int
    regions: dict[str, int]
    redis: int
    edge_worker: int

    @classmethod
    def free(cls, region_names: list[str]) -> StackPorts:
        return cls(
            router=free_port(),
            control=free_port(),
            regions={name: free_port() for name in region_names},
            redis=free_port(),
            edge_worker=free_port(),
        )


def mock_cloud_config(ports: StackPorts, demo: dict[str, Any]) -> dict[str, Any]:
    """The demo's simulated cloud (`deploy/local/mock-cloud.yaml`) on the stack's ports."""
    regions = [{**region, "port": ports.regions[region["name"]]} for region in demo["regions"]]
    return {**demo, "control": {"host": LOOPBACK, "port": ports.control}, "regions": regions}


def node_config(ports: StackPorts, demo: dict[str, Any], policy_dir: Path) -> dict[str, Any]:
    """The demo's node config (`deploy/local/node.yaml`) rewired to the stack: endpoints at the
    cloud's ports and the worker's, limits in the stack's Redis, the copied policy directory."""
    config = dict(demo)
    config["server"] = {
        **demo.get("server", {}),
        "host": LOOPBACK,
        "port": ports.router,
        # Stopped at the end of a run: what is still in flight is cut after 2 s, not 25.
        "drain_timeout_s": 2,
    }
    endpoints = []
    for endpoint in demo["endpoints"]:
        port = ports.regions.get(endpoint["name"])
        if endpoint.get("locality") == "edge":
            port = ports.edge_worker
        if port is None:
            raise StackError(f"{DEMO_DIR}/node.yaml: endpoint {endpoint['name']!r} is no region")
        endpoints.append({**endpoint, "base_url": f"http://{LOOPBACK}:{port}/v1"})
    config["endpoints"] = endpoints
    config["limits"] = {
        "backend": "redis",
        "redis": {"url": f"redis://{LOOPBACK}:{ports.redis}/0"},
    }
    config["edge_worker"] = {**demo.get("edge_worker", {}), "port": ports.edge_worker}
    config["policies"] = {**demo.get("policies", {}), "directory": str(policy_dir)}
    return config


class LocalStack:
    """The started stack and what the disruptions do to it. Built by `local_stack()`."""

    def __init__(
        self, directory: Path, processes: Processes, ports: StackPorts, workers: int = 1
    ) -> None:
        """`workers`: the router's `serve --workers` (one process unless a run is about more)."""
        self.directory = directory
        self.workers = workers
        self.processes = processes
        self.ports = ports
        self.policy_dir = directory / "policies"
        self.admin_token = secrets.token_urlsafe(24)
        self.router: subprocess.Popen[bytes] | None = None
        self.redis: subprocess.Popen[bytes] | None = None
        self._redis_starts = 0
        self._worker_pids: set[int] = set()

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports.router}/v1"

    @property
    def router_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports.router}"

    @property
    def control_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports.control}"

    @property
    def router_pid(self) -> int | None:
        return None if self.router is None else self.router.pid

    @property
    def tenant_policy(self) -> Path:
        """The demo tenant's policy file in the router's (copied) policy directory."""
        return self.policy_dir / f"{DEMO_TENANT}.yaml"

    def start(self) -> None:
        demo_cloud = _yaml_mapping(DEMO_DIR / "mock-cloud.yaml")
        demo_node = _yaml_mapping(DEMO_DIR / "node.yaml")
        shutil.copytree(POLICIES_DIR, self.policy_dir)
        cloud_file = self.directory / "mock-cloud.yaml"
        cloud_file.write_text(yaml.safe_dump(mock_cloud_config(self.ports, demo_cloud)))
        node_file = self.directory / "node.yaml"
        node = node_config(self.ports, demo_node, self.policy_dir)
        node_file.write_text(yaml.safe_dump(node, sort_keys=False))
        python = sys.executable
        cloud = self.processes.start(
            "mock_cloud", [python, "-m", "loadtest.mock_cloud", "--config", str(cloud_file)], None
        )
        wait_ready(self.processes, "mock_cloud", cloud, f"{self.control_url}/control/regions", 30.0)
        self.start_redis()
        self.router = self.processes.start("router", self._router_argv(node, node_file), None)
        wait_ready(self.processes, "router", self.router, self.router_url + "/healthz", 60.0)
        self._wait_router_ready()
        self.edge_worker_pid()  # remembered, to be sure it is stopped at the end

    def _router_argv(self, node: dict[str, Any], node_file: Path) -> list[str]:
        """`edge-router serve`, its admin token in its environment alone: read from a file by a
        shell that then becomes the router (`exec`), so that it is in no command line or log."""
        token_env = str(node.get("admin", {}).get("token_env", "EDGE_ROUTER_ADMIN_TOKEN"))
        if not token_env.isidentifier():
            raise StackError(f"{DEMO_DIR}/node.yaml: admin.token_env {token_env!r} is no name")
        token_file = self.directory / "admin-token"
        token_file.touch(mode=0o600)
        token_file.write_text(self.admin_token)
        script = (
            f'{token_env}="$(cat "$1")"; export {token_env}; '
            'exec "$2" serve --workers "$4" --config "$3"'
        )
        router = _router_binary()
        arguments = [str(token_file), router, str(node_file), str(self.workers)]
        return [_binary("sh"), "-c", script, "sh", *arguments]

    def _wait_router_ready(self) -> None:
        """Until /readyz says 200: the edge worker has answered, the embedder is loaded."""
        deadline = time.monotonic() + _READY_TIMEOUT_S
        last = ""
        while time.monotonic() < deadline:
            self.processes.check_alive()
            try:
                with urllib.request.urlopen(self.router_url + "/readyz", timeout=2.0):
                    return
            except urllib.error.HTTPError as waiting:
                last = waiting.read().decode(errors="replace")
            except OSError as error:
                last = str(error)
            time.sleep(0.2)
        raise StackError(
            f"the router was not ready after {_READY_TIMEOUT_S:g} s ({last}):\n"
            + self.processes.log_tail("router")
        )

    # Redis

    def start_redis(self) -> None:
        """A redis-server on the stack's port (again, after a kill): no persistence."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise StackError("no redis-server on the PATH (Debian: apt-get install redis-server)")
        self._redis_starts += 1
        name = "redis" if self._redis_starts == 1 else f"redis-{self._redis_starts}"
        argv = [binary, "--bind", LOOPBACK, "--port", str(self.ports.redis), "--save", ""]
        argv += ["--appendonly", "no", "--dir", str(self.directory)]
        self.redis = self.processes.start(name, argv, None)
        deadline = time.monotonic() + _REDIS_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.redis.poll() is not None:
                raise StackError(f"{name} exited at start:\n{self.processes.log_tail(name)}")
            if self.redis_answers():
                return
            time.sleep(0.02)
        raise StackError(f"{name} did not answer PING on port {self.ports.redis}")

    def redis_answers(self, timeout_s: float = 0.2) -> bool:
        """Whether Redis answers PING within `timeout_s`."""
        try:
            with socket.create_connection((LOOPBACK, self.ports.redis), timeout=timeout_s) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def signal_redis(self, signum: signal.Signals) -> None:
        if self.redis is None or self.redis.poll() is not None:
            raise StackError("the stack's redis-server is not running")
        self.redis.send_signal(signum)
        if signum == signal.SIGKILL:
            self.redis.wait(timeout=5.0)

    # The edge worker

    def edge_worker_pid(self) -> int | None:
        """The edge worker the router runs now (its child running `edge_worker.cli`), if any."""
        if self.router is None:
            return None
        for pid in _children(self.router.pid):
            if b"edge_worker.cli" in _cmdline(pid):
                self._worker_pids.add(pid)
                return pid
        return None

    def edge_worker_answers(self) -> bool:
        url = f"http://{LOOPBACK}:{self.ports.edge_worker}/v1/models"
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                return int(response.status) == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        """Every process stopped; a stopped Redis continued first, so that it can exit."""
        if self.redis is not None and self.redis.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.redis.send_signal(signal.SIGCONT)
        self.processes.stop_all()
        for pid in self._worker_pids:
            _stop_leftover(pid)


@contextlib.contextmanager
def local_stack(keep_logs: bool = False, workers: int = 1) -> Iterator[LocalStack]:
    """The stack, started; every process stopped and the directory removed on exit."""
    directory = Path(tempfile.mkdtemp(prefix="loadtest-stack-"))
    regions = [region["name"] for region in _yaml_mapping(DEMO_DIR / "mock-cloud.yaml")["regions"]]
    stack = LocalStack(directory, Processes(directory), StackPorts.free(regions), workers)
    try:
        stack.start()
        yield stack
    except BaseException:
        keep_logs = True
        raise
    finally:
        stack.stop()
        stack.processes.finish(keep_logs)


def _yaml_mapping(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise StackError(f"{path}: expected a mapping")
    return data


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise StackError(f"{name} is not on the PATH")
    return found


def _router_binary() -> str:
    """`edge-router` next to this Python (the virtualenv's), else on the PATH."""
    beside = Path(sys.executable).parent / "edge-router"
    if beside.exists():
        return str(beside)
    found = shutil.which("edge-router")
    if found is None:
        raise StackError(f"no edge-router beside {sys.executable} nor on the PATH")
    return found


def _children(pid: int) -> list[int]:
    children: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                children += [int(child) for child in (task / "children").read_text().split()]
    return children


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _stop_leftover(pid: int) -> None:
    """An edge worker the router did not stop (the router was killed): stopped, by its pid."""
    deadline = time.monotonic() + _WORKER_EXIT_WAIT_S
    while time.monotonic() < deadline and b"edge_worker.cli" in _cmdline(pid):
        time.sleep(0.1)
    if b"edge_worker.cli" in _cmdline(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
