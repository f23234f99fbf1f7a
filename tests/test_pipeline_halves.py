"""The runner: request halves in order, response and record halves of the stages that ran, in
reverse, whoever answered. No server: stages are called with a context and answer with `Answer`s."""

from __future__ import annotations

import pytest

from router.answer import Answer
from router.context import RequestContext
from router.pipeline import Pipeline, PipelineMisconfigured
from tests.request_context import chat_context

RAW = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}'


class _Suffix:
    """A filter that appends its mark to a body, and to every chunk."""

    def __init__(self, mark: bytes) -> None:
        self.mark = mark

    def body(self, body: bytes) -> bytes:
        return body + self.mark

    def feed(self, chunk: bytes) -> bytes:
        return chunk + self.mark

    def finish(self, complete: bool) -> bytes:
        return b""


class _Stage:
    def __init__(
        self, name: str, log: list[str], *, answers: bool = False, raises: bool = False
    ) -> None:
        self.name = name
        self.terminal = False
        self._log = log
        self._answers = answers
        self._raises = raises

    async def on_request(self, ctx: RequestContext) -> Answer | None:
        self._log.append(f"request:{self.name}")
        if self._raises:
            raise RuntimeError(self.name)
        return Answer(body=b"answer") if self._answers else None

    def on_answer(self, ctx: RequestContext, answer: Answer) -> None:
        self._log.append(f"answer:{self.name}")
        answer.wrap(_Suffix(f"<{self.name}".encode()))

    def on_done(self, ctx: RequestContext) -> None:
        self._log.append(f"done:{self.name}")


class _RequestOnly:
    name = "plain"
    terminal = False

    async def on_request(self, ctx: RequestContext) -> Answer | None:
        return None


def _terminal(log: list[str]) -> _Stage:
    stage = _Stage("last", log, answers=True)
    stage.terminal = True
    return stage


@pytest.mark.asyncio
async def test_an_answer_goes_back_through_the_response_halves_of_the_stages_that_ran() -> None:
    log: list[str] = []
    pipeline = Pipeline(
        [_Stage("a", log), _RequestOnly(), _Stage("b", log, answers=True), _terminal(log)]
    )
    ctx = chat_context(RAW)
    answer = await pipeline.run(ctx)
    pipeline.done(ctx)
    assert log == [
        "request:a",
        "request:b",
        "answer:b",
        "answer:a",
        "done:b",
        "done:a",
    ]
    assert answer.filtered_body() == b"answer<b<a"  # the answering stage's half first
    assert set(ctx.stage_ms) == {"a", "plain", "b"}


@pytest.mark.asyncio
async def test_a_stage_that_raises_still_gets_the_record_halves_of_those_before_it() -> None:
    log: list[str] = []
    pipeline = Pipeline([_Stage("a", log), _Stage("b", log, raises=True), _terminal(log)])
    ctx = chat_context(RAW)
    with pytest.raises(RuntimeError):
        await pipeline.run(ctx)
    pipeline.done(ctx)
    assert log == ["request:a", "request:b", "done:b", "done:a"]


def test_the_order_is_checked_when_the_pipeline_is_built() -> None:
    log: list[str] = []
    with pytest.raises(PipelineMisconfigured):
        Pipeline([_Stage("a", log)])  # nothing terminal last
    with pytest.raises(PipelineMisconfigured):
        Pipeline([_terminal(log), _terminal(log)])
    with pytest.raises(PipelineMisconfigured):
        Pipeline([_Stage("a", log), _Stage("a", log), _terminal(log)])
