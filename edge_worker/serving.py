"""Opening the prepared models and running the worker's HTTP server until stopped.

The worker stops on SIGTERM or SIGINT, and by itself when the process that started it is gone
(`parent_pid`): a router that dies, even by SIGKILL, must not leave its worker holding the port
and the CPU. Linux reparents an orphan, so a changed parent pid is the sign; it is read every
`_PARENT_CHECK_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from edge_worker.embedder import BatchingEmbedder, Embedder
from edge_worker.engine import Engine
from edge_worker.generator import Generator
from edge_worker.manifest import load
from edge_worker.server import WorkerModels, build_worker_app

log = logging.getLogger("edge_worker")

GENERATOR_DIR = Path("smollm2-135m-instruct")
EMBEDDER_DIR = Path("all-minilm-l6-v2") / "int8"
DEFAULT_PRECISION = "int4-kquant-mixed"
_PARENT_CHECK_S = 0.5


@dataclass(frozen=True)
class ServeSettings:
    store: Path
    precision: str = DEFAULT_PRECISION
    max_batch: int = 4
    queue_size: int = 8
    public_key: Path | None = None


def open_models(settings: ServeSettings) -> WorkerModels:
    """Both models, each refused unless its files match its manifest (and signature)."""
    signed_by = _public_key(settings.public_key)
    generator_dir = settings.store / GENERATOR_DIR / settings.precision
    embedder_dir = settings.store / EMBEDDER_DIR
    generator = Generator.open(generator_dir, signed_by=signed_by)
    embedder = Embedder.open(embedder_dir, signed_by=signed_by)
    generator_manifest, embedder_manifest = load(generator_dir), load(embedder_dir)
    return WorkerModels(
        generator_id=generator_manifest.name,
        embedder_id=embedder_manifest.name,
        context_tokens=generator_manifest.context_length,
        engine=Engine(generator, max_batch=settings.max_batch, queue_size=settings.queue_size),
        embedder=BatchingEmbedder(embedder),
    )


def _public_key(path: Path | None) -> Ed25519PublicKey | None:
    if path is None:
        return None
    key = load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path}: not an Ed25519 public key")
    return key


async def serve(
    models: WorkerModels, listening: socket.socket | Path, parent_pid: int | None = None
) -> None:
    """Serve on a bound socket (or a Unix socket path) until a signal, or the parent is gone."""
    runner = web.AppRunner(build_worker_app(models), handler_cancellation=True, access_log=None)
    await runner.setup()
    site: web.BaseSite = (
        web.UnixSite(runner, str(listening))
        if isinstance(listening, Path)
        else web.SockSite(runner, listening)
    )
    await site.start()
    log.info(
        "edge-worker serving %s and %s on %s", models.generator_id, models.embedder_id, site.name
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    watching = None if parent_pid is None else asyncio.create_task(_watch_parent(parent_pid, stop))
    try:
        await stop.wait()
    finally:
        if watching is not None:
            watching.cancel()
        for sig in signals:
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)
        await runner.cleanup()


async def _watch_parent(parent_pid: int, stop: asyncio.Event) -> None:
    # Polled: nothing wakes a process when its parent dies, portably (PR_SET_PDEATHSIG is
    # Linux-only and tied to the parent's thread).
    while not stop.is_set():
        if os.getppid() != parent_pid:
            log.warning("edge-worker: its router (pid %d) is gone; stopping", parent_pid)
            stop.set()
            return
        await asyncio.sleep(_PARENT_CHECK_S)
