"""The request pipeline: stages in order on the way in, the reverse way out (Envoy's filter chain).

Each stage has a request half, `on_request(ctx)`, which returns None to pass the request on or an
`Answer` to answer it (`router.answer`), and where it needs them:
- a **response half**, `on_answer(ctx, answer)`, which wraps the answer with a filter that sees its
  body or its stream's chunks on the way to the client (Envoy's encoder filters). The runner calls
  the response halves of the stages that ran, in reverse order, whoever answered: a cache hit goes
  back through the same halves as an upstream answer;
- a **record half**, `on_done(ctx)`, called once the answer was sent (or failed), in reverse order,
  for the stages that ran: the cache stores, admission settles.

Stages never call each other. The runner times each request half (`ctx.stage_ms`, which the
request's span carries as `router.stage.<name>_ms`), and, when the node's tracing asks for it
(`telemetry.tracing.stage_spans`) and the request is sampled, runs each one in a child span of its
own, `stage <name>`, which records what the stage raised. The server writes the answer to the
client in one place (`router.answer_writer`). The order is checked when
the app is built: the last stage, and only it, is terminal (it always answers or raises), which
is the forwarding stage.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from time import perf_counter
from typing import Protocol, runtime_checkable

from router.answer import Answer
from router.context import RequestContext


class Stage(Protocol):
    name: str
    terminal: bool

    async def on_request(self, ctx: RequestContext) -> Answer | None: ...


@runtime_checkable
class ResponseHalf(Protocol):
    def on_answer(self, ctx: RequestContext, answer: Answer) -> None:
        """Wrap the answer (`Answer.wrap`) when this stage has something to do with its bytes."""
        ...


@runtime_checkable
class RecordHalf(Protocol):
    def on_done(self, ctx: RequestContext) -> None:
        """After the answer was sent, or the request failed; must not raise."""
        ...


# A current span named for a stage (`Tracing.span` of `stage <name>`).
StageSpan = Callable[[str], AbstractContextManager[object]]


class PipelineMisconfigured(Exception):
    pass


class Pipeline:
    def __init__(self, stages: Sequence[Stage], stage_span: StageSpan | None = None) -> None:
        """`stage_span`: a span per request half of a sampled request (None: timings only)."""
        if not stages or not stages[-1].terminal:
            raise PipelineMisconfigured("the last stage must be terminal (the forwarding stage)")
        if any(stage.terminal for stage in stages[:-1]):
            raise PipelineMisconfigured("only the last stage may be terminal")
        names = [stage.name for stage in stages]
        if len(set(names)) != len(names):
            raise PipelineMisconfigured(f"stage names must be unique: {names}")
        self.stages = tuple(stages)
        self._stage_span = stage_span
        # Found once: the halves each stage implements (most stages have no response half).
        self._response_halves = tuple(
            stage if isinstance(stage, ResponseHalf) else None for stage in self.stages
        )
        self._record_halves = tuple(
            stage if isinstance(stage, RecordHalf) else None for stage in self.stages
        )

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(stage.name for stage in self.stages)

    async def run(self, ctx: RequestContext) -> Answer:
        """The request halves in order until one answers, then the response halves of those that
        ran, in reverse. Raises what a stage raised (the server makes it an error answer)."""
        stage_span = self._stage_span if ctx.span.is_recording() else None
        for index, stage in enumerate(self.stages):
            ctx.stages_run = index + 1
            started = perf_counter()
            try:
                if stage_span is None:
                    answer = await stage.on_request(ctx)
                else:
                    with stage_span(stage.name):
                        answer = await stage.on_request(ctx)
            finally:
                ctx.stage_ms[stage.name] = (perf_counter() - started) * 1000.0
            if answer is not None:
                for half in reversed(self._response_halves[: index + 1]):
                    if half is not None:
                        half.on_answer(ctx, answer)
                return answer
        raise PipelineMisconfigured("the terminal stage passed the request on")

    def done(self, ctx: RequestContext) -> None:
        """The record halves of the stages that ran, in reverse order."""
        for half in reversed(self._record_halves[: ctx.stages_run]):
            if half is not None:
                half.on_done(ctx)
