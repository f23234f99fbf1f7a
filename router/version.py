"""The installed version of this project, as `--version` prints it.

Read from the distribution's metadata (`edge-inference-router`, pyproject.toml) rather than written
in the code, so that a release changes one place.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "edge-inference-router"


def installed_version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"
