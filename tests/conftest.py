"""Tests run on uvloop, the event loop production uses (`edge-router serve` installs it).

The two differ in ways that matter here: uvloop's transports are not `asyncio.Transport`
subclasses, and its timers and callbacks order differently under load.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import uvloop


def pytest_asyncio_loop_factories(config: Any, item: Any) -> Mapping[str, Callable[[], Any]]:
    return {"uvloop": uvloop.new_event_loop}
