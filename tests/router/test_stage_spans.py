"""The runner's span per stage (`telemetry.tracing.stage_spans`): each request half of a sampled
request in a child span of the request's, the attempt inside the forwarding stage's, a refusal
recorded on the stage that refused; off (the default), none."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.stack import running_stack

CHAT: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "Where is the nearest train station?"}],
}
STAGES = ["auth", "admission", "privacy", "content_log", "cache", "route", "forward"]
STAGE_SPANS = {"telemetry": {"tracing": {"stage_spans": True}}}


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
    assert set(stages) == {f"stage {name}" for name in STAGES[:-1]}  # forwarding never ran
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
