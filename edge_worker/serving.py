"""Opening the prepared models and running the worker's HTTP server until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
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


async def serve(models: WorkerModels, host: str, port: int, unix: Path | None) -> None:
    runner = web.AppRunner(build_worker_app(models), handler_cancellation=True, access_log=None)
    await runner.setup()
    site: web.BaseSite = (
        web.UnixSite(runner, str(unix)) if unix is not None else web.TCPSite(runner, host, port)
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
    try:
        await stop.wait()
    finally:
        for sig in signals:
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)
        await runner.cleanup()
