"""`make image-test`: the container image run the way a PoP runs it, against the simulated cloud.

The simulated cloud (`python -m loadtest.mock_cloud`) starts on loopback ports of its choosing; the
image runs with podman on the host's network, as uid 10001 on a read-only root with a tmpfs at
/tmp and every capability dropped (as deploy/kubernetes/base/deployment.yaml runs it), with a node
config written here for the cloud's ports and free ports of its own, and the repository's tenant
policies. Checked, in order:
- what the image holds: no torch, transformers, loadtest or pip, no compiler, Debian's trust store
  (not the build's CA bundle), the user, the model store and the health check the manifests expect;
- start-up: `podman run` to `/readyz` 200, timed; the image's health check passes;
- a chat completion, a streamed one and an embeddings request to the cloud, and an embeddings and
  a chat request to the edge worker's models, through the router with the official `openai` client;
- SIGTERM (`podman stop`) while a stream is in flight: new connections are refused, the stream
  still completes, and the container exits 0 within the drain timeout.
Every container, the cloud and the temporary directory are removed at the end, failed or not.

    .venv/bin/python deploy/container/image_test.py --image edge-inference-router:0.1.0
"""

from __future__ import annotations

import argparse
import json
import resource
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from openai import OpenAI

REPO = Path(__file__).resolve().parents[2]
DEPLOYMENT = REPO / "deploy" / "kubernetes" / "base" / "deployment.yaml"
API_KEY = "sk-edge-demo"  # the `default` tenant of policies/default.yaml
DRAIN_TIMEOUT_S = 25.0  # server.drain_timeout_s, as in the Kubernetes node config
READY_TIMEOUT_S = 120.0
# The stream SIGTERM interrupts: 240 tokens at 40 tokens/s, about 6 s, long enough to see the
# router refuse new connections while it still streams.
STREAM_TOKENS = 240
TOKENS_PER_S = 40
# What the image must not hold: the preparation stage's and the test suite's packages, installers.
ABSENT_MODULES = ("torch", "transformers", "loadtest", "pip", "setuptools")
ABSENT_COMMANDS = ("cc", "gcc", "g++", "c++", "curl", "apt-get")
# What the manifests run in it: the command, the edge worker, the pre-stop hook's sleep; tini;
# the node-local Redis of `serve --workers N`.
PRESENT_COMMANDS = ("edge-router", "edge-worker", "sleep", "tini", "redis-server")
# The probe run inside the image, by its own python: what is there, as JSON.
CONTENTS_PROBE = f"""
import glob, importlib.util, json, os, shutil
bundle = open("/etc/ssl/certs/ca-certificates.crt").read()
print(json.dumps({{
    "modules": [m for m in {ABSENT_MODULES!r} if importlib.util.find_spec(m) is not None],
    "commands": [c for c in {ABSENT_COMMANDS!r} if shutil.which(c)],
    "missing": [c for c in {PRESENT_COMMANDS!r} if not shutil.which(c)],
    "bundle_certificates": bundle.count("BEGIN CERTIFICATE"),
    "debian_certificates": len(glob.glob("/usr/share/ca-certificates/*/*.crt")),
    "secrets": os.listdir("/run/secrets") if os.path.isdir("/run/secrets") else [],
    "models": sorted(glob.glob("/opt/edge-router/models/*/*/manifest.json")),
    "uid": os.getuid(),
    "user": __import__("pwd").getpwuid(os.getuid()).pw_name,
}}))
"""


class ImageTestFailed(Exception):
    pass


def check(condition: bool, what: str) -> None:
    if not condition:
        raise ImageTestFailed(what)
    print(f"ok   {what}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def podman(*arguments: str, timeout_s: float = 120.0) -> str:
    completed = subprocess.run(
        ["podman", *arguments], capture_output=True, text=True, timeout=timeout_s, check=False
    )
    if completed.returncode != 0:
        raise ImageTestFailed(f"podman {shlex.join(arguments)}: {completed.stderr.strip()}")
    return completed.stdout


@dataclass(frozen=True)
class Ports:
    router: int
    worker: int


@contextmanager
def simulated_cloud(directory: Path) -> Iterator[str]:
    """One region on a loopback port of its choosing; yields its base URL."""
    config = directory / "mock-cloud.yaml"
    region = {
        "name": "us-east",
        "port": 0,
        "rtt_ms": 20,
        "ttft_ms": 50,
        "tokens_per_s": TOKENS_PER_S,
    }
    settings = {"control": {"host": "127.0.0.1", "port": 0}, "regions": [region]}
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    command = [sys.executable, "-m", "loadtest.mock_cloud", "--config", str(config)]
    cloud = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert cloud.stdout is not None
        first = cloud.stdout.readline()  # "region us-east listening on http://127.0.0.1:P/v1"
        if "listening on" not in first:
            raise ImageTestFailed(f"the simulated cloud did not start: {first!r}")
        yield first.split("listening on ")[1].strip()
    finally:
        cloud.terminate()
        cloud.wait(timeout=10)


def node_config(cloud_url: str, ports: Ports) -> dict[str, object]:
    """The router's config for this run: the cloud region, the PoP's own models, the demo policies
    mounted where the Deployment mounts them."""
    return {
        "server": {"host": "127.0.0.1", "port": ports.router, "drain_timeout_s": DRAIN_TIMEOUT_S},
        "admin": {"token_env": "EDGE_ROUTER_ADMIN_TOKEN"},
        "limits": {"backend": "memory"},
        "policies": {"directory": "policies", "watch": True},
        "endpoints": [
            {
                "name": "us-east",
                "base_url": cloud_url,
                "region": "us-east",
                "models": [
                    {
                        "name": "gpt-4o-mini",
                        "input_price_per_mtok": 0.15,
                        "output_price_per_mtok": 0.60,
                    },
                    {
                        "name": "text-embedding-3-small",
                        "kind": "embedding",
                        "input_price_per_mtok": 0.02,
                    },
                ],
            },
            {
                "name": "edge",
                "base_url": f"http://127.0.0.1:{ports.worker}/v1",
                "region": "pop",
                "locality": "edge",
                "max_concurrency": 12,
                "models": [
                    {"name": "smollm2-135m-instruct"},
                    {"name": "all-minilm-l6-v2", "kind": "embedding"},
                ],
            },
        ],
        "edge_worker": {"spawn": True, "port": ports.worker},
        "models": [
            {"alias": alias, "targets": [{"endpoint": endpoint, "model": alias}]}
            for alias, endpoint in (
                ("gpt-4o-mini", "us-east"),
                ("text-embedding-3-small", "us-east"),
                ("smollm2-135m-instruct", "edge"),
                ("all-minilm-l6-v2", "edge"),
            )
        ],
    }


def ulimits() -> list[str]:
    """This process's open-file limits, which the router raises its soft limit to the hard one of;
    processes at podman's own default, since an explicit value is what this kernel accepts."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return ["--ulimit", f"nofile={soft}:{hard}", "--ulimit", "nproc=32768:32768"]


def check_image_config(image: str) -> dict[str, Any]:
    inspected = json.loads(podman("image", "inspect", image))[0]
    config = inspected["Config"]
    deployment = yaml.safe_load(DEPLOYMENT.read_text(encoding="utf-8"))
    pod = deployment["spec"]["template"]["spec"]
    uid, gid = pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]
    check(config.get("User") == f"{uid}:{gid}", f"the image runs as {uid}:{gid}, as the manifests")
    # podman shows a docker-format image's health check beside its Config, not in it.
    check(bool(inspected.get("Healthcheck", {}).get("Test")), "the image has a HEALTHCHECK")
    check(config.get("Entrypoint", [None])[0] == "/usr/bin/tini", "tini is the entry point (PID 1)")
    container = next(c for c in pod["containers"] if c["name"] == "router")
    cmd = config.get("Cmd") or []
    check(
        "command" not in container and container["args"][: len(cmd)] == cmd,
        "the Deployment's args start with the image's CMD (and no command bypasses tini)",
    )
    return inspected


def check_contents(image: str, runtime: str) -> None:
    probe = podman(
        "run", "--rm", "--runtime", runtime, *ulimits(), "--no-healthcheck", "--read-only",
        "--network", "none", "--entrypoint", "/opt/edge-router/venv/bin/python", image,
        "-c", CONTENTS_PROBE,
    )  # fmt: skip
    found = json.loads(probe)
    check(not found["modules"], f"none of {', '.join(ABSENT_MODULES)} in the image")
    check(not found["commands"], f"none of {', '.join(ABSENT_COMMANDS)} in the image")
    check(not found["missing"], f"{', '.join(PRESENT_COMMANDS)} on the PATH")
    check(
        found["bundle_certificates"] == found["debian_certificates"] and not found["secrets"],
        f"the trust store is Debian's ({found['bundle_certificates']} certificates), "
        "not the build's CA bundle",
    )
    check(len(found["models"]) == 2, "two prepared models, each with its manifest")
    check(found["user"] == "edge-router", f"uid {found['uid']} is the user edge-router")


def wait_until_ready(ports: Ports, container: str, started: float) -> float:
    url = f"http://127.0.0.1:{ports.router}/readyz"
    while time.monotonic() - started < READY_TIMEOUT_S:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except (urllib.error.URLError, OSError):
            pass
        state = podman("inspect", "--format", "{{.State.Status}}", container).strip()
        if state != "running":
            raise ImageTestFailed(f"the container is {state}: {podman('logs', container)[-2000:]}")
        time.sleep(0.1)
    raise ImageTestFailed(f"/readyz not 200 within {READY_TIMEOUT_S:.0f} s")


def deployment_args() -> list[str]:
    """What the Deployment runs under the image's entry point."""
    deployment = yaml.safe_load(DEPLOYMENT.read_text(encoding="utf-8"))
    pod = deployment["spec"]["template"]["spec"]
    container = next(c for c in pod["containers"] if c["name"] == "router")
    return [str(arg) for arg in container["args"]]


def check_workers(ports: Ports, workers: int) -> None:
    """Every worker of `serve --workers N` answers its share of /metrics (the pool, with its
    node-local Redis, runs in the image)."""
    url = f"http://127.0.0.1:{ports.router}/metrics"
    answered = f'router_pool_workers{{state="answered"}} {workers}.0'
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        with urllib.request.urlopen(url, timeout=2) as response:
            if answered in response.read().decode():
                print(f"ok   {workers} router workers answer /metrics")
                return
        time.sleep(0.1)
    raise ImageTestFailed(f"the {workers} workers never all answered /metrics")


def served_by(raw: Any) -> str:
    return str(raw.headers.get("x-router-served-by"))


def check_requests(client: OpenAI) -> None:
    messages = [{"role": "user", "content": "Hello"}]
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=messages, max_tokens=16
    )
    chat = raw.parse()
    check(
        served_by(raw) == "cloud" and bool(chat.choices[0].message.content),
        "a chat completion, answered by the cloud",
    )
    pieces = [
        chunk.choices[0].delta.content or ""
        for chunk in client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, max_tokens=16, stream=True
        )
        if chunk.choices
    ]
    check(len(pieces) >= 16 and bool("".join(pieces)), "a streamed chat completion, 16 tokens")
    raw = client.embeddings.with_raw_response.create(model="text-embedding-3-small", input="hi")
    check(
        served_by(raw) == "cloud" and len(raw.parse().data[0].embedding) > 0,
        "an embeddings request, answered by the cloud",
    )
    raw = client.embeddings.with_raw_response.create(model="all-minilm-l6-v2", input="hello")
    check(
        served_by(raw) == "edge" and len(raw.parse().data[0].embedding) == 384,
        "an embeddings request, answered by the image's embedder (384 dimensions)",
    )
    raw = client.chat.completions.with_raw_response.create(
        model="smollm2-135m-instruct", messages=messages, max_tokens=8
    )
    check(
        served_by(raw) == "edge" and bool(raw.parse().choices[0].message.content),
        "a chat completion, answered by the image's generator",
    )


class StreamInFlight(threading.Thread):
    """Reads one long stream; `first_token` is set when it has begun."""

    def __init__(self, client: OpenAI) -> None:
        super().__init__(daemon=True)
        self._client = client
        self.first_token = threading.Event()
        self.tokens = 0
        self.finish_reason: str | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            stream = self._client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "Tell me a long story"}],
                max_tokens=STREAM_TOKENS,
                stream=True,
            )
            for chunk in stream:
                for choice in chunk.choices:
                    if choice.delta.content:
                        self.tokens += 1
                        self.first_token.set()
                    self.finish_reason = choice.finish_reason or self.finish_reason
        except BaseException as error:  # reported by the main thread
            self.error = error
            self.first_token.set()


def refuses_connections(port: int, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            return True
        time.sleep(0.05)
    return False


def check_sigterm_mid_stream(client: OpenAI, ports: Ports, container: str) -> float:
    stream = StreamInFlight(client)
    stream.start()
    check(stream.first_token.wait(30) and stream.error is None, "a long stream has begun")
    # `podman stop` sends the image's STOPSIGNAL (SIGTERM), and SIGKILL only after --time.
    signalled = time.monotonic()
    kill_after_s = int(DRAIN_TIMEOUT_S) + 10
    stop = subprocess.Popen(
        ["podman", "stop", "--time", str(kill_after_s), container],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    check(refuses_connections(ports.router, within_s=3), "after SIGTERM, new connections refused")
    check(stream.is_alive(), "... while the stream is still in flight")
    stream.join(timeout=DRAIN_TIMEOUT_S)
    check(
        stream.error is None and stream.finish_reason == "length"
        and stream.tokens == STREAM_TOKENS,
        f"the stream completed: {stream.tokens} of {STREAM_TOKENS} tokens, "
        f"finish_reason {stream.finish_reason}, error {stream.error!r}",
    )  # fmt: skip
    stop.wait(timeout=kill_after_s + 10)
    stopped_s = time.monotonic() - signalled
    code = podman("inspect", "--format", "{{.State.ExitCode}}", container).strip()
    check(code == "0", f"the container exited {code} (0: drained, not killed)")
    check(stopped_s < DRAIN_TIMEOUT_S, f"stopped {stopped_s:.1f} s after SIGTERM, within the drain")
    return stopped_s


def run(image: str, runtime: str) -> None:
    inspected = check_image_config(image)
    check_contents(image, runtime)
    ports = Ports(router=free_port(), worker=free_port())
    container = f"edge-router-image-test-{ports.router}"
    with tempfile.TemporaryDirectory(prefix="edge-router-image-test-") as scratch:
        directory = Path(scratch)
        with simulated_cloud(directory) as cloud_url:
            config = directory / "node.yaml"
            config.write_text(yaml.safe_dump(node_config(cloud_url, ports)), encoding="utf-8")
            config.chmod(0o644)
            directory.chmod(0o755)
            # Health checks are run by hand below: podman's timer for them needs systemd.
            options = [
                "--detach", "--name", container, "--runtime", runtime, *ulimits(),
                "--network", "host", "--no-healthcheck",
                "--read-only", "--read-only-tmpfs=false", "--tmpfs", "/tmp:rw,size=64m,mode=1777",
                "--cap-drop", "all", "--security-opt", "no-new-privileges",
                "--volume", f"{config}:/etc/edge-router/node.yaml:ro",
                "--volume", f"{REPO / 'policies'}:/etc/edge-router/policies:ro",
                "--env", "EDGE_ROUTER_ADMIN_TOKEN=image-test",
            ]  # fmt: skip
            args = deployment_args()
            started = time.monotonic()
            podman("run", *options, image, *args)
            try:
                ready_s = wait_until_ready(ports, container, started)
                print(f"ok   /readyz 200 {ready_s:.1f} s after podman run {shlex.join(args)}")
                check_workers(ports, int(args[args.index("--workers") + 1]))
                healthcheck = inspected["Healthcheck"]["Test"][1:]  # after "CMD"
                podman("exec", container, *healthcheck)
                print("ok   the image's health check passes")
                client = OpenAI(
                    base_url=f"http://127.0.0.1:{ports.router}/v1", api_key=API_KEY, max_retries=0
                )
                check_requests(client)
                stopped_s = check_sigterm_mid_stream(client, ports, container)
            except ImageTestFailed:
                print(podman("logs", "--tail", "40", container), file=sys.stderr)
                raise
            finally:
                subprocess.run(["podman", "rm", "--force", container], capture_output=True)
    size_mb = inspected["Size"] / 1e6
    print(f"image {image}: {size_mb:.0f} MB; start-up (podman run to /readyz 200) {ready_s:.1f} s;")
    print(
        f"SIGTERM mid-stream to exit 0: {stopped_s:.1f} s (drain timeout {DRAIN_TIMEOUT_S:.0f} s)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="edge-inference-router:0.1.0")
    parser.add_argument("--runtime", default="runc", help="podman's OCI runtime (default runc)")
    args = parser.parse_args()
    try:
        run(args.image, args.runtime)
    except ImageTestFailed as failed:
        print(f"FAIL {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
