"""The container image's recipe (deploy/container/Containerfile) against the Kubernetes manifests
that run it, read offline: no image is built here (`make image-test` builds and runs it).

What the two must agree on: the user, HOME, the command (the Deployment's args are the image's CMD
and no `command` replaces its entry point, tini), the node config's path, the port, the model
store's path (the one the models are prepared into, copied, and where the edge worker looks), and
the health check's URL (the liveness probe's path on the node config's port). And what the final
image may take from the build: only the serving virtualenv, the model store and the health check.
"""

from __future__ import annotations

import importlib.util
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONTAINER = ROOT / "deploy" / "container"
BASE = ROOT / "deploy" / "kubernetes" / "base"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [arguments for k, arguments in self.instructions if k == keyword]

    def one(self, keyword: str) -> str:
        found = self.all(keyword)
        assert len(found) == 1, f"{keyword}: {len(found)} in stage {self.name}"
        return found[0]

    def env(self) -> dict[str, str]:
        pairs = [p.split("=", 1) for env in self.all("ENV") for p in shlex.split(env)]
        return dict((key, value) for key, value in pairs)


def stages(containerfile: Path) -> list[Stage]:
    """The stages of a Containerfile, each with its instructions (continuations joined)."""
    lines: list[str] = []
    pending = ""
    for raw in containerfile.read_text(encoding="utf-8").splitlines():
        if raw.lstrip().startswith("#") or not raw.strip():
            continue
        pending += raw.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        lines.append(pending)
        pending = ""
    found: list[Stage] = []
    for line in lines:
        keyword, _, arguments = line.strip().partition(" ")
        if keyword.upper() == "FROM":
            words = arguments.split()
            found.append(Stage(words[0], words[2] if len(words) == 3 else None))
        else:
            found[-1].instructions.append((keyword.upper(), arguments.strip()))
    return found


def exec_form(arguments: str) -> list[str]:
    loaded = yaml.safe_load(arguments)  # a JSON array is YAML too
    assert isinstance(loaded, list), f"{arguments}: not in exec form"
    return [str(word) for word in loaded]


@pytest.fixture(scope="module")
def image() -> list[Stage]:
    return stages(CONTAINER / "Containerfile")


@pytest.fixture(scope="module")
def final(image: list[Stage]) -> Stage:
    return image[-1]


@pytest.fixture(scope="module")
def router() -> dict[str, Any]:
    deployment = yaml.safe_load((BASE / "deployment.yaml").read_text(encoding="utf-8"))
    pod = deployment["spec"]["template"]["spec"]
    container: dict[str, Any] = next(c for c in pod["containers"] if c["name"] == "router")
    return {"pod": pod, "container": container}


def healthcheck_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("healthcheck", CONTAINER / "healthcheck.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_image_runs_as_the_manifests_user_with_their_home(
    final: Stage, router: dict[str, Any]
) -> None:
    security = router["pod"]["securityContext"]
    assert final.one("USER") == f"{security['runAsUser']}:{security['runAsGroup']}"
    home = next(e["value"] for e in router["container"]["env"] if e["name"] == "HOME")
    assert final.env()["HOME"] == home


def test_deployment_runs_the_image_cmd_under_its_entry_point(
    final: Stage, router: dict[str, Any]
) -> None:
    assert exec_form(final.one("ENTRYPOINT"))[0] == "/usr/bin/tini"
    assert "command" not in router["container"], "a command replaces the entry point (tini)"
    cmd = exec_form(final.one("CMD"))
    # The image's command, with options after it (the Deployment's `--workers`).
    assert router["container"]["args"][: len(cmd)] == cmd
    config = Path(cmd[cmd.index("--config") + 1])
    mounts = {m["mountPath"] for m in router["container"]["volumeMounts"]}
    assert str(config) in mounts and str(config.parent / "policies") in mounts


def test_exposed_port_is_the_container_port_and_the_node_configs(
    final: Stage, router: dict[str, Any]
) -> None:
    node = yaml.safe_load((BASE / "node.yaml").read_text(encoding="utf-8"))
    ports = {p["containerPort"] for p in router["container"]["ports"]}
    assert {int(final.one("EXPOSE"))} == ports == {node["server"]["port"]}


def test_models_are_prepared_copied_and_looked_for_at_one_store(image: list[Stage]) -> None:
    by_name = {s.name: s for s in image if s.name}
    store = image[-1].env()["EDGE_WORKER_STORE"]
    assert by_name["models"].env()["EDGE_WORKER_STORE"] == store
    assert f"--from=models {store} {store}" in image[-1].all("COPY")
    assert any("edge-worker prepare --check" in run for run in image[-1].all("RUN"))


def test_final_image_takes_only_the_virtualenv_the_models_and_the_health_check(
    image: list[Stage],
) -> None:
    final = image[-1]
    assert final.base == "localhost/edge-router-base:bookworm-runtime"
    assert sorted(final.all("COPY")) == sorted(
        [
            "--from=app /opt/edge-router/venv /opt/edge-router/venv",
            "--from=models /opt/edge-router/models /opt/edge-router/models",
            "deploy/container/healthcheck.py /opt/edge-router/healthcheck.py",
        ]
    )
    # The CA bundle reaches pip as a secret mount only, never a layer.
    for stage in image:
        for keyword, arguments in stage.instructions:
            assert not (keyword in {"COPY", "ADD"} and "ca-certificates" in arguments)


def test_health_check_asks_the_liveness_path_on_the_node_configs_port(
    final: Stage, router: dict[str, Any]
) -> None:
    command = exec_form(final.one("HEALTHCHECK").split(" CMD ", 1)[1])
    assert command[-1] == "/opt/edge-router/healthcheck.py"
    liveness = router["container"]["livenessProbe"]["httpGet"]
    url = healthcheck_module().healthz_url(BASE / "node.yaml")
    assert url == f"http://127.0.0.1:8080{liveness['path']}"


def test_health_check_reaches_a_server_on_every_address_by_loopback(tmp_path: Path) -> None:
    healthz_url = healthcheck_module().healthz_url
    config = tmp_path / "node.yaml"
    config.write_text("server: {host: '::', port: 9000}\n", encoding="utf-8")
    assert healthz_url(config) == "http://[::1]:9000/healthz"
    assert healthz_url(tmp_path / "missing.yaml") == "http://127.0.0.1:8080/healthz"


def test_build_context_leaves_out_the_load_test_suite_and_the_virtualenvs() -> None:
    text = (ROOT / ".containerignore").read_text(encoding="utf-8")
    patterns = [line.strip() for line in text.splitlines() if line.strip()[:1] not in {"", "#"}]
    assert patterns[0] == "*", "everything is left out first, then the image's sources let in"
    included = {line[1:] for line in patterns if line.startswith("!")}
    assert included == {
        "pyproject.toml",
        "README.md",
        "router/",
        "edge_worker/",
        "deploy/container/",
    }
