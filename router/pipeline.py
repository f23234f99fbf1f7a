"""The request pipeline: an ordered list of stages, each of which answers or passes on.

A stage takes the request context and returns `None` to continue or a response to answer (Envoy's
filter chain). Stages never call each other. The runner times each stage; the order is checked when
the app is built, and the last stage must be terminal (it always answers or raises), which is the
forwarding stage today.
"""

from __future__ import annotations

from collections.abc import Sequence
from time import perf_counter
from typing import Protocol

from aiohttp import web

from router.context import RequestContext


class Stage(Protocol):
    name: str
    terminal: bool

    async def __call__(self, ctx: RequestContext) -> web.StreamResponse | None: ...


class PipelineMisconfigured(Exception):
    pass


class Pipeline:
    def __init__(self, stages: Sequence[Stage]) -> None:
        if not stages or not stages[-1].terminal:
            raise PipelineMisconfigured("the last stage must be terminal (the forwarding stage)")
        if any(stage.terminal for stage in stages[:-1]):
            raise PipelineMisconfigured("only the last stage may be terminal")
        names = [stage.name for stage in stages]
        if len(set(names)) != len(names):
            raise PipelineMisconfigured(f"stage names must be unique: {names}")
        self.stages = tuple(stages)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(stage.name for stage in self.stages)

    async def run(self, ctx: RequestContext) -> web.StreamResponse:
        for stage in self.stages:
            started = perf_counter()
            try:
                answer = await stage(ctx)
            finally:
                ctx.stage_ms[stage.name] = (perf_counter() - started) * 1000.0
            if answer is not None:
                return answer
        raise PipelineMisconfigured("the terminal stage passed the request on")
