"""Where the tests find the models `edge-worker prepare` built (prepared once per machine).

`make test` prepares the store before pytest runs when it is empty; a test that needs a model and
finds none fails with the command to run, never skips.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

EMBEDDER = Path("all-minilm-l6-v2") / "int8"


def store() -> Path:
    configured = os.environ.get("EDGE_WORKER_STORE")
    if configured:
        return Path(configured)
    return Path(platformdirs.user_cache_dir("edge-router")) / "models"


def model_dir(relative: Path) -> Path:
    directory = store() / relative
    assert (directory / "manifest.json").is_file(), (
        f"no prepared model in {directory}: run `make prepare` (or `edge-worker prepare`)"
    )
    return directory
