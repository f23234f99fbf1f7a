"""`cache.semantic_precision`: a precision target instead of a raw cosine, mapped once when the
policy loads; a target set beside `similarity_threshold`, or one no measured configuration
reaches, is refused with file, line and field, and the last good policy keeps serving."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.config.yaml_source import ConfigInvalid
from router.policy.keys import hash_key
from router.policy.loader import load_policy_file
from router.policy.store import PolicyStore

KEY = hash_key("sk-one")
POLICY = f"""\
tenant: acme
api_keys: ["{KEY}"]
models:
  - alias: gpt-4o-mini
cache:
  semantic: true
"""


def _write(directory: Path, cache_lines: str) -> Path:
    path = directory / "acme.yaml"
    path.write_text(POLICY + cache_lines, encoding="utf-8")
    return path


def _problems(path: Path) -> list[str]:
    with pytest.raises(ConfigInvalid) as raised:
        load_policy_file(path)
    return [str(p) for p in raised.value.problems]


def test_a_precision_target_is_mapped_when_the_policy_loads(tmp_path: Path) -> None:
    policy = load_policy_file(_write(tmp_path, "  semantic_precision: 0.9\n"))
    target = policy.cache.semantic_target
    assert target is not None and target.worst_case_precision >= 0.9
    assert target.verifier == "content"
    assert load_policy_file(_write(tmp_path, "")).cache.semantic_target is None


def test_a_target_beside_a_similarity_threshold_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "  similarity_threshold: 0.9\n  semantic_precision: 0.9\n")
    (problem,) = _problems(path)
    assert problem.startswith(f"{path}:8: cache.semantic_precision: Value error, set either")


def test_an_unreachable_target_is_refused_naming_the_best_reachable(tmp_path: Path) -> None:
    path = _write(tmp_path, "  semantic_precision: 0.999\n")
    (problem,) = _problems(path)
    assert problem.startswith(
        f"{path}:7: cache.semantic_precision: Value error, no measured configuration reaches "
        "a precision of 0.999: the best is 0."
    )
    assert "verifier content at threshold" in problem


def test_a_target_outside_0_to_1_is_refused(tmp_path: Path) -> None:
    for value in ("0", "1.5"):
        (problem,) = _problems(_write(tmp_path, f"  semantic_precision: {value}\n"))
        assert ":7: cache.semantic_precision: Input should be" in problem


def test_an_unreachable_target_in_a_reload_leaves_the_last_good_policy_serving(
    tmp_path: Path,
) -> None:
    _write(tmp_path, "  semantic_precision: 0.9\n")
    store = PolicyStore(tmp_path)
    good = store.snapshot.policies["acme"]
    _write(tmp_path, "  semantic_precision: 0.999\n")
    snapshot = store.reload()
    assert snapshot.policies["acme"] is good
    assert [p.field for p in snapshot.problems] == ["cache.semantic_precision"]
