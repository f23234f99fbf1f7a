"""`edge-router`'s checks: an unset secret variable is a warning for `config check` and an error for
`serve`, for every kind of secret; `--version` names the installed distribution's version."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import pytest

from router.cli import main
from router.config.loader import load_node_config
from router.config.yaml_source import ConfigInvalid

DEMO = Path(__file__).resolve().parents[2] / "deploy" / "local" / "node.yaml"

# Variable names no machine sets, so the tests need not clear the environment.
EVERY_SECRET = """\
auth:
  api_keys: [k]
admin:
  token_env: EDGE_ROUTER_TEST_UNSET_ADMIN
limits:
  backend: redis
  redis:
    url_env: EDGE_ROUTER_TEST_UNSET_LIMITS_REDIS
cache:
  shared:
    enabled: true
    redis:
      url_env: EDGE_ROUTER_TEST_UNSET_CACHE_REDIS
endpoints:
  - name: a
    base_url: http://127.0.0.1:9101/v1
    region: r1
    api_key_env: EDGE_ROUTER_TEST_UNSET_PROVIDER_KEY
    models: [{name: m1}]
"""


def _every_secret_missing(path: Path) -> list[str]:
    return [
        f"{path}:18: endpoints[0].api_key_env: environment variable "
        "EDGE_ROUTER_TEST_UNSET_PROVIDER_KEY is not set",
        f"{path}:4: admin.token_env: environment variable EDGE_ROUTER_TEST_UNSET_ADMIN is not set",
        f"{path}:8: limits.redis.url_env: environment variable EDGE_ROUTER_TEST_UNSET_LIMITS_REDIS"
        " is not set",
        f"{path}:13: cache.shared.redis.url_env: environment variable "
        "EDGE_ROUTER_TEST_UNSET_CACHE_REDIS is not set",
    ]


def test_config_check_passes_the_demo_config_without_its_admin_token_and_warns(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("EDGE_ROUTER_ADMIN_TOKEN", raising=False)
    assert main(["config", "check", str(DEMO)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "ok\n"
    assert captured.err == (
        f"warning: {DEMO}:7: admin.token_env: environment variable EDGE_ROUTER_ADMIN_TOKEN is "
        "not set (`edge-router serve` refuses to start without it)\n"
    )


def test_config_check_warns_for_every_kind_of_unset_secret_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "node.yaml"
    path.write_text(EVERY_SECRET, encoding="utf-8")
    assert main(["config", "check", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "ok\n"
    assert captured.err.splitlines() == [
        f"warning: {problem} (`edge-router serve` refuses to start without it)"
        for problem in _every_secret_missing(path)
    ]


def test_the_loader_refuses_unset_secret_variables_unless_told_they_may_be_missing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "node.yaml"
    path.write_text(EVERY_SECRET, encoding="utf-8")
    with pytest.raises(ConfigInvalid) as raised:
        load_node_config(path, {})
    assert [str(p) for p in raised.value.problems] == _every_secret_missing(path)
    loaded = load_node_config(path, {}, require_secrets=False)
    assert [str(p) for p in loaded.missing_secrets] == _every_secret_missing(path)
    assert loaded.secrets.admin_token is None and loaded.secrets.endpoint_keys == {}


def test_a_set_secret_variable_is_neither_a_warning_nor_an_error(tmp_path: Path) -> None:
    path = tmp_path / "node.yaml"
    path.write_text(EVERY_SECRET, encoding="utf-8")
    environ = {
        "EDGE_ROUTER_TEST_UNSET_ADMIN": "adm",
        "EDGE_ROUTER_TEST_UNSET_LIMITS_REDIS": "redis://h:1/0",
        "EDGE_ROUTER_TEST_UNSET_CACHE_REDIS": "redis://h:2/0",
        "EDGE_ROUTER_TEST_UNSET_PROVIDER_KEY": "sk-provider",
    }
    loaded = load_node_config(path, environ, require_secrets=False)
    assert loaded.missing_secrets == ()
    assert loaded.secrets.endpoint_keys == {"a": "sk-provider"}
    assert load_node_config(path, environ).secrets.admin_token == "adm"


def test_serve_refuses_to_start_when_a_secret_variable_is_unset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "node.yaml"
    path.write_text(EVERY_SECRET, encoding="utf-8")
    assert main(["serve", "--config", str(path), "--port", "0"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    for problem in _every_secret_missing(path):
        assert problem in captured.err.splitlines()


def test_version_prints_the_installed_distribution_version(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"edge-router {version('edge-inference-router')}\n"
