"""One load-generator run from its settings to its result: the open loop (`run._Run`) or a closed
loop's clients (`closed_loop`) send every request, the stragglers are drained, and the measured
window is summarised (`summary`)."""

from __future__ import annotations

from loadtest.generator.closed_loop import run_clients
from loadtest.generator.run import _Run, open_session
from loadtest.generator.settings import LoadSettings
from loadtest.generator.stats import LoadResult
from loadtest.generator.summary import RequestRecord, request_records, summarise
from loadtest.generator.timer import open_sleeper


async def run_load(settings: LoadSettings) -> LoadResult:
    """Run one load test and summarise the measured window."""
    result, _ = await run_load_detailed(settings)
    return result


async def run_load_detailed(settings: LoadSettings) -> tuple[LoadResult, list[RequestRecord]]:
    """`run_load`, and every measured request's own record (when it was due, its latency and
    TTFT, its outcome, and what the workload drew for it), for plots over time."""
    sleeper = open_sleeper()
    try:
        async with open_session(settings) as session:
            run = _Run(settings, session, sleeper)
            if settings.closed_loop:
                await run_clients(run)
            else:
                await run.send_all()
            await run.drain()
            return summarise(run), request_records(run)
    finally:
        sleeper.close()
