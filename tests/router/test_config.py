"""Node config loading: every problem reported with file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.config.loader import load_node_config, parse_node_config
from router.config.yaml_source import ConfigInvalid

VALID = """\
auth:
  api_keys: [k]
endpoints:
  - name: a
    base_url: http://127.0.0.1:9101/v1
    region: r1
    api_key_env: A_KEY
    models: [{name: m1, input_price_per_mtok: 1, output_price_per_mtok: 2}]
  - name: b
    base_url: http://127.0.0.1:9102/v1
    region: r2
    models: [{name: m1}, {name: m2}]
models:
  - alias: fast
    targets: [{endpoint: a, model: m1}, {endpoint: b, model: m2}]
"""


def _problems(text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigInvalid) as raised:
        parse_node_config(text, "node.yaml", environ or {"A_KEY": "secret"})
    return [str(p) for p in raised.value.problems]


def test_valid_config_loads_with_defaults_and_secrets() -> None:
    loaded = parse_node_config(VALID, "node.yaml", {"A_KEY": "sk-secret"})
    assert loaded.config.server.port == 8080
    assert loaded.config.routing.default_objective == "balanced"
    assert loaded.secrets.endpoint_keys == {"a": "sk-secret"}
    assert "sk-secret" not in repr(loaded.secrets)


def test_every_schema_problem_is_reported_with_line_and_field() -> None:
    text = VALID.replace("auth:\n", "routing:\n  max_attempts: 0\n  bogus: 1\nauth:\n")
    problems = _problems(text)
    assert "node.yaml:2: routing.max_attempts: Input should be greater than or equal to 1" in (
        problems
    )
    assert "node.yaml:3: routing.bogus: Extra inputs are not permitted" in problems


def test_a_bad_url_deep_in_a_list_names_its_index_and_line() -> None:
    text = VALID.replace("http://127.0.0.1:9102/v1", "not a url")
    (problem,) = _problems(text)
    assert problem.startswith("node.yaml:10: endpoints[1].base_url:")


def test_alias_to_unknown_endpoint_and_unlisted_model_are_refused() -> None:
    text = VALID.replace("{endpoint: b, model: m2}", "{endpoint: zz, model: m2}").replace(
        "{endpoint: a, model: m1}", "{endpoint: a, model: m9}"
    )
    problems = _problems(text)
    assert "node.yaml:15: models[0].targets[0].model: endpoint 'a' does not list model 'm9'" in (
        problems
    )
    assert "node.yaml:15: models[0].targets[1].endpoint: unknown endpoint 'zz'" in problems


def test_missing_key_environment_variable_is_refused_without_revealing_values() -> None:
    (problem,) = _problems(VALID, {"OTHER": "x"})
    assert problem == (
        "node.yaml:7: endpoints[0].api_key_env: environment variable A_KEY is not set"
    )


def test_duplicate_endpoint_names_are_refused() -> None:
    text = VALID.replace("  - name: b\n", "  - name: a\n")
    assert any("endpoints[1].name: endpoint name 'a' is used twice" in p for p in _problems(text))


def test_invalid_yaml_reports_the_line() -> None:
    (problem,) = _problems("auth:\n  api_keys: [k\nendpoints: []\n")
    assert problem.startswith("node.yaml:3: <root>: not valid YAML")


def test_the_shipped_demo_config_is_valid() -> None:
    root = Path(__file__).resolve().parents[2]
    loaded = load_node_config(
        root / "deploy" / "local" / "node.yaml", {"EDGE_ROUTER_ADMIN_TOKEN": "t"}
    )
    assert {e.name for e in loaded.config.endpoints} == {"us-east", "eu-west", "ap-south", "edge"}
    assert loaded.config.edge_worker.spawn


@pytest.mark.parametrize(
    "name", ["node.yaml", "node-policies.yaml", "node-otlp.yaml", "node-otlp-sampled.yaml"]
)
def test_the_benchmark_configs_are_valid(name: str) -> None:
    root = Path(__file__).resolve().parents[2]
    loaded = load_node_config(root / "deploy" / "bench" / name, {})
    assert [e.name for e in loaded.config.endpoints] == ["sim"]


def test_a_node_without_keys_or_policies_is_refused() -> None:
    text = VALID.replace("auth:\n  api_keys: [k]\n", "")
    (problem,) = _problems(text)
    assert problem == "node.yaml:1: auth.api_keys: give at least one key, or a policies.directory"


def test_the_admin_token_and_a_redis_url_come_from_the_environment() -> None:
    text = VALID + (
        "admin:\n  token_env: ADMIN_TOKEN\n"
        "limits:\n  backend: redis\n  redis:\n    url_env: REDIS_URL\n"
    )
    problems = _problems(text)
    assert "node.yaml:17: admin.token_env: environment variable ADMIN_TOKEN is not set" in problems
    assert "node.yaml:21: limits.redis.url_env: environment variable REDIS_URL is not set" in (
        problems
    )
    environ = {"A_KEY": "k", "ADMIN_TOKEN": "adm-secret", "REDIS_URL": "redis://:pw@h:1/0"}
    loaded = parse_node_config(text, "node.yaml", environ)
    assert loaded.secrets.admin_token == "adm-secret"
    assert loaded.secrets.redis_url == "redis://:pw@h:1/0"
    assert "adm-secret" not in repr(loaded.secrets) and "pw" not in repr(loaded.secrets)


def test_a_spawned_worker_needs_an_edge_endpoint_on_its_port() -> None:
    text = VALID + "edge_worker:\n  spawn: true\n  port: 8399\n"
    (problem,) = _problems(text)
    assert problem.startswith("node.yaml:18: edge_worker.port: no endpoint of locality `edge`")


def test_an_endpoints_apis_and_auth_default_to_its_kinds_and_are_checked() -> None:
    text = VALID.replace("    region: r2\n", "    region: r2\n    kind: anthropic\n")
    a, b = parse_node_config(text, "node.yaml", {"A_KEY": "k"}).config.endpoints
    assert (a.apis, a.auth) == (("chat",), "bearer")
    assert (b.apis, b.auth) == (("messages",), "x-api-key")
    both = text.replace(
        "    kind: anthropic\n",
        "    kind: anthropic\n    apis: [messages, chat]\n    auth: bearer\n",
    )
    b = parse_node_config(both, "node.yaml", {"A_KEY": "k"}).config.endpoints[1]
    assert (b.apis, b.auth) == (("messages", "chat"), "bearer")
    twice = text.replace("    kind: anthropic\n", "    apis: [responses, responses]\n")
    assert any(
        "endpoints[1].apis: Value error, an API is listed twice" in p for p in _problems(twice)
    )
    unknown = text.replace("    kind: anthropic\n", "    apis: [completions]\n")
    assert _problems(unknown) == [
        "node.yaml:12: endpoints[1].apis[0]: Input should be 'chat', 'responses' or 'messages'"
    ]
