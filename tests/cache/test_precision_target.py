"""A tenant's precision target (`cache.semantic_precision`) mapped through the measured curve
(`router/policy/precision_curve.json`) to a verifier and a threshold, and served with them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from router.policy.precision_curve import (
    PrecisionUnreachable,
    configuration_for,
    parse_curve,
    shipped_curve,
)
from router.state import STATE
from tests.cache.cache_stack import asking, write_tenants
from tests.stack import running_stack

Figures = tuple[float | None, float]  # precision (None: no hit), hit rate


def _row(
    verifier: str, threshold: float, gptcache: Figures, paws: Figures, contrastive: float
) -> dict[str, Any]:
    return {
        "verifier": verifier,
        "threshold": threshold,
        "gptcache": {"precision": gptcache[0], "hit_rate": gptcache[1]},
        "paws": {"precision": paws[0], "hit_rate": paws[1]},
        "contrastive": {"false_hit_rate": contrastive},
    }


def test_the_shipped_curve_is_the_tune_parts_for_both_verifiers() -> None:
    curve = shipped_curve()
    assert curve.part == "tune"
    assert {c.verifier for c in curve.configurations} == {"guards", "content"}


def test_a_high_target_maps_to_content_agreement_and_a_low_one_to_the_guards() -> None:
    high = configuration_for(0.9)
    assert high.verifier == "content" and high.worst_case_precision >= 0.9
    low = configuration_for(0.45)
    assert low.verifier == "guards" and low.worst_case_precision >= 0.45
    # the guards hit more rewordings: that is why the low target gets them
    assert low.gptcache_hit_rate > high.gptcache_hit_rate


def test_an_unreachable_target_is_refused_naming_the_best_reachable() -> None:
    best = max(c.worst_case_precision for c in shipped_curve().configurations)
    with pytest.raises(PrecisionUnreachable) as raised:
        configuration_for(min(1.0, best + 0.001))
    assert f"the best is {best:.4f} (verifier content at threshold" in str(raised.value)


def test_a_target_maps_to_the_most_gptcache_then_paws_hits_then_the_higher_threshold() -> None:
    curve = parse_curve(
        {
            "part": "tune",
            "embedder": "test",
            "configurations": [
                _row("guards", 0.80, (1.0, 0.9), (0.5, 0.9), 0.5),  # worst case 0.5
                _row("guards", 0.90, (1.0, 0.6), (0.8, 0.7), 0.1),  # 0.8
                _row("guards", 0.95, (1.0, 0.6), (0.8, 0.7), 0.1),  # 0.8, a higher threshold
                _row("guards", 0.97, (1.0, 0.6), (0.9, 0.5), 0.1),  # 0.9, fewer PAWS hits
                _row("content", 0.80, (None, 0.0), (0.99, 0.1), 0.0),  # no GPTCache hit: 0.99
            ],
        }
    )
    lowest = curve.configuration_for(0.5)
    assert (lowest.verifier, lowest.threshold) == ("guards", 0.80)
    assert curve.configuration_for(0.8).threshold == 0.95
    assert curve.configuration_for(0.85).threshold == 0.97
    assert curve.configuration_for(0.99).verifier == "content"
    with pytest.raises(PrecisionUnreachable, match=r"the best is 0\.9900 \(verifier content"):
        curve.configuration_for(0.995)


@pytest.mark.asyncio
async def test_a_tenant_with_a_precision_target_is_served_by_its_mapped_verifier(
    tmp_path: Path,
) -> None:
    """`careful` (target 0.9: content agreement) and `loose` (0.45: the guards) store the same
    question; a rewording with the same content words hits both, each naming its verifier, and
    one that adds a content word ("city") hits only the guards' tenant."""
    write_tenants(
        tmp_path,
        {
            "careful": "{semantic: true, semantic_precision: 0.9}",
            "loose": "{semantic: true, semantic_precision: 0.45}",
        },
    )
    overrides = {
        "policies": {"directory": str(tmp_path), "watch": False},
        "cache": {"enabled": True},
    }
    expected = {"careful": configuration_for(0.9), "loose": configuration_for(0.45)}
    async with running_stack(overrides=overrides) as stack:
        for tenant, mapped in expected.items():
            client = stack.client(api_key=f"sk-{tenant}")
            first = await client.chat.completions.create(**asking("What is the capital of France?"))
            await stack.app[STATE].cache.drain()  # its question, embedded while it was served
            raw = await client.chat.completions.with_raw_response.create(
                **asking("Tell me the capital of France.")
            )
            assert raw.headers["x-router-cache"] == "hit-semantic", tenant
            assert raw.headers["x-router-cache-verifier"] == f"{mapped.verifier}; agree"
            assert float(raw.headers["x-router-cache-similarity"]) >= mapped.threshold
            assert raw.parse().choices[0].message.content == first.choices[0].message.content

            raw = await client.chat.completions.with_raw_response.create(
                **asking("Which city is the capital of France?")
            )
            verdict = "miss" if mapped.verifier == "content" else "hit-semantic"
            assert raw.headers["x-router-cache"] == verdict, tenant
