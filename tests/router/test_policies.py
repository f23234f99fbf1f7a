"""Tenant policy files: the shipped examples load, the schema matches the model, and every
problem is reported with file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from router.cli import main
from router.config.yaml_source import ConfigInvalid
from router.policy.keys import hash_key
from router.policy.loader import load_policy_dir, load_policy_file
from router.policy.schema import policy_schema_json
from router.policy.store import PolicyStore

POLICIES = Path(__file__).resolve().parents[2] / "policies"
KEY = hash_key("sk-one")

VALID = f"""\
tenant: acme
api_keys: ["{KEY}"]
models:
  - alias: gpt-4o-mini
  - alias: gpt-4o
experiments:
  - name: canary
    applies_to: gpt-4o-mini
    arms: [{{alias: gpt-4o-mini, weight: 9}}, {{alias: gpt-4o, weight: 1}}]
"""


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _problems(path: Path) -> list[str]:
    with pytest.raises(ConfigInvalid) as raised:
        load_policy_file(path)
    return [str(p) for p in raised.value.problems]


def test_every_shipped_policy_loads() -> None:
    loaded = load_policy_dir(POLICIES)
    assert loaded.problems == []
    assert set(loaded.policies) == {"default", "interactive-app", "batch", "health-care"}
    care = loaded.policies["health-care"]
    assert care.privacy.required_tags == ["hipaa"] and care.privacy.on_pii == "local-only"


def test_the_benchmark_tenant_loads_with_every_limit_set() -> None:
    loaded = load_policy_dir(POLICIES.parent / "deploy" / "bench" / "policies")
    assert loaded.problems == []
    limits = loaded.policies["loadtest"].limits
    assert all(value is not None for value in limits.model_dump().values())


def test_committed_schema_matches_the_model() -> None:
    committed = (POLICIES / "schema.json").read_text(encoding="utf-8")
    assert committed == policy_schema_json(), "regenerate: edge-router policy schema"


def test_the_schema_accepts_the_shipped_policies_and_refuses_unknown_keys() -> None:
    schema = json.loads(policy_schema_json())
    for path in POLICIES.glob("*.yaml"):
        jsonschema.validate(yaml.safe_load(path.read_text(encoding="utf-8")), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**yaml.safe_load(VALID), "colour": "blue"}, schema)


def test_a_valid_policy_loads_with_defaults(tmp_path: Path) -> None:
    policy = load_policy_file(_write(tmp_path, "acme", VALID))
    assert policy.routing.objective == "balanced"
    assert policy.cache.max_temperature == 0.0
    assert policy.limits.daily_budget_usd is None


def test_schema_problems_name_file_line_and_field(tmp_path: Path) -> None:
    text = VALID.replace("  - alias: gpt-4o\n", "  - alias: gpt-4o\n    colour: blue\n")
    text += "privacy:\n  on_pii: shred\nlimits:\n  daily_budget_usd: -5\n"
    path = _write(tmp_path, "acme", text)
    problems = _problems(path)
    assert f"{path}:6: models[1].colour: Extra inputs are not permitted" in problems
    assert any(p.startswith(f"{path}:12: privacy.on_pii: Input should be") for p in problems)
    assert f"{path}:14: limits.daily_budget_usd: Input should be greater than 0" in problems


def test_plain_keys_are_refused_only_hashes_are_accepted(tmp_path: Path) -> None:
    path = _write(tmp_path, "acme", VALID.replace(KEY, "sk-plain-key"))
    (problem,) = _problems(path)
    assert problem.startswith(f"{path}:2: api_keys[0]: String should match pattern")


def test_cross_field_problems_name_their_place(tmp_path: Path) -> None:
    text = VALID.replace("tenant: acme", "tenant: other").replace(
        "{alias: gpt-4o, weight: 1}", "{alias: gpt-5, weight: 1}"
    )
    path = _write(tmp_path, "acme", text)
    problems = _problems(path)
    assert f"{path}:1: tenant: must match the file name ('acme')" in problems
    assert f"{path}:9: experiments[0].arms[1].alias: 'gpt-5' is not in models" in problems


def test_two_experiments_on_one_alias_or_with_one_name_are_refused(tmp_path: Path) -> None:
    second = """\
  - name: canary
    applies_to: gpt-4o-mini
    arms: [{alias: gpt-4o-mini, weight: 1}, {alias: gpt-4o, weight: 1}]
"""
    path = _write(tmp_path, "acme", VALID + second)
    problems = _problems(path)
    assert f"{path}:10: experiments[1].name: 'canary' is listed twice" in problems
    assert (
        f"{path}:11: experiments[1].applies_to: 'gpt-4o-mini' is already split by another "
        "experiment" in problems
    )


def test_routing_budget_and_weights_are_optional_and_checked(tmp_path: Path) -> None:
    policy = load_policy_file(_write(tmp_path, "acme", VALID))
    assert policy.routing.max_attempts is None and policy.routing.deadline_s is None
    text = (
        VALID + "routing:\n  max_attempts: 0\n  deadline_s: 0\n  weights: {latency: 0, cost: 0}\n"
    )
    problems = _problems(_write(tmp_path, "acme", text))
    assert any(
        "routing.max_attempts: Input should be greater than or equal to 1" in p for p in problems
    )
    assert any("routing.deadline_s: Input should be greater than 0" in p for p in problems)
    assert any("routing.weights: Value error, at least one of" in p for p in problems)


def test_a_key_used_by_two_tenants_is_reported_in_both_files_and_the_rest_still_load(
    tmp_path: Path,
) -> None:
    _write(tmp_path, "acme", VALID)
    _write(tmp_path, "zeta", VALID.replace("tenant: acme", "tenant: zeta"))
    _write(tmp_path, "broken", "tenant: broken\napi_keys: []\nmodels: []\n")
    loaded = load_policy_dir(tmp_path)
    assert set(loaded.policies) == {"acme", "zeta"}
    messages = [str(p) for p in loaded.problems]
    assert any("acme.yaml" in m and "also listed by tenant 'zeta'" in m for m in messages)
    assert any("zeta.yaml" in m and "also listed by tenant 'acme'" in m for m in messages)
    assert any("broken.yaml:2: api_keys" in m for m in messages)


def test_a_contested_key_authenticates_no_tenant_at_start_up_as_after_a_reload(
    tmp_path: Path,
) -> None:
    """Before, the file that sorted first took the key after a restart, while a live reload
    kept the old owner: who a key belonged to depended on history."""
    _write(tmp_path, "zeta", VALID.replace("tenant: acme", "tenant: zeta"))
    store = PolicyStore(tmp_path)
    assert store.snapshot.tenant_by_key == {KEY: "zeta"}
    _write(tmp_path, "acme", VALID)  # sorts first, lists zeta's key
    assert store.reload().tenant_by_key == {}
    assert PolicyStore(tmp_path).snapshot.tenant_by_key == {}  # a restart: the same answer
    _write(tmp_path, "acme", VALID.replace(KEY, "sha256:" + "0" * 64))
    assert store.reload().tenant_by_key == {KEY: "zeta", "sha256:" + "0" * 64: "acme"}


def test_policy_cli_checks_and_hashes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check", str(POLICIES)]) == 0
    assert capsys.readouterr().out == "ok\n"
    bad = _write(tmp_path, "acme", VALID + "bogus: 1\n")
    assert main(["policy", "check", str(bad)]) == 2
    assert f"{bad}:10: bogus: Extra inputs are not permitted" in capsys.readouterr().err
    assert main(["policy", "hash-key", "sk-one"]) == 0
    assert capsys.readouterr().out.strip() == KEY
    assert KEY.startswith("sha256:") and len(KEY) == len("sha256:") + 64
