"""The runner's span per stage (`telemetry.tracing.stage_spans`): each request half of a sampled
request in a child span of the request's, the attempt inside the forwarding stage's, a refusal
recorded on the stage that refused; off (the default), none."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest

from tests.stack import running_stack
from tests.tenant_policies import key_of, write_policies

CHAT: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "Where is the nearest train station?"}],
}
STAGES = ["auth", "admission", "privacy", "content_log", "cache", "route", "affinity", "forward"]
STAGE_SPANS = {"telemetry": {"tracing": {"stage_spans": True}}}
TENANT: dict[str, Any] = {"models": [{"alias": "gpt-4o-mini"}]}


@pytest.mark.asyncio
async def test_each_stage_of_a_sampled_request_has_its_span_under_the_requests() -> None:
    async with running_stack(overrides=STAGE_SPANS) as stack:
        await stack.client().chat.completions.create(**CHAT)
        spans = stack.spans.get_finished_spans()
    (server,) = [s for s in spans if s.kind.name == "SERVER"]
    stages = sorted(
        (s for s in spans if s.name.startswith("stage ")), key=lambda s: s.start_time or 0
    )
    assert [s.name for s in stages] == [f"stage {name}" for name in STAGES]
    assert all(s.parent is not None and s.parent.span_id == server.context.span_id for s in stages)
    assert all(s.status.status_code.name == "UNSET" for s in stages)
    (attempt,) = [s for s in spans if s.kind.name == "CLIENT"]
    forward = stages[-1]
    assert attempt.parent is not None and attempt.parent.span_id == forward.context.span_id
    # The runner's timing of each stage is on the request's span as well.
    assert all(f"router.stage.{name}_ms" in (server.attributes or {}) for name in STAGES)


@pytest.mark.asyncio
async def test_the_stage_that_refuses_records_the_error_and_later_stages_never_run() -> None:
    async with running_stack(overrides=STAGE_SPANS) as stack:
        with pytest.raises(openai.NotFoundError):
            await stack.client().chat.completions.create(**{**CHAT, "model": "no-such-model"})
        spans = stack.spans.get_finished_spans()
    stages = {s.name: s for s in spans if s.name.startswith("stage ")}
    # The route stage refused: neither affinity nor forwarding ran.
    assert set(stages) == {f"stage {name}" for name in STAGES[:-2]}
    route = stages["stage route"]
    assert route.status.status_code.name == "ERROR"
    assert any(event.name == "exception" for event in route.events)
    assert stages["stage cache"].status.status_code.name == "UNSET"


@pytest.mark.asyncio
async def test_without_the_setting_a_request_has_no_stage_spans() -> None:
    async with running_stack() as stack:
        await stack.client().chat.completions.create(**CHAT)
        spans = stack.spans.get_finished_spans()
    assert [s.kind.name for s in spans if s.kind.name == "SERVER"] == ["SERVER"]
    assert not [s for s in spans if s.name.startswith("stage ")]


@pytest.mark.asyncio
async def test_the_request_span_carries_the_cache_verdict_and_the_limits_outcome(
    tmp_path: Path,
) -> None:
    policies = write_policies(
        tmp_path / "policies",
        {"acme": {**TENANT, "cache": {"enabled": True}, "limits": {"requests_per_minute": 2}}},
    )
    overrides = {
        "policies": {"directory": str(policies), "watch": False},
        "cache": {"enabled": True, "semantic": False},
    }
    async with running_stack(overrides=overrides) as stack:
        client = stack.client(api_key=key_of("acme"))
        cacheable = {**CHAT, "temperature": 0}  # a sampled answer is never cached
        await client.chat.completions.create(**cacheable)
        await client.chat.completions.create(**cacheable)
        with pytest.raises(openai.RateLimitError):
            await client.chat.completions.create(**cacheable)
        servers = [s for s in stack.spans.get_finished_spans() if s.kind.name == "SERVER"]
    attributes = [dict(s.attributes or {}) for s in servers]
    assert [a.get("router.cache") for a in attributes[:2]] == ["miss", "hit-exact"]
    assert [a.get("router.limits") for a in attributes[:2]] == ["admitted", "admitted"]
    assert attributes[2]["error.type"] == "rate_limit_exceeded"
