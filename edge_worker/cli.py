"""`edge-worker`: the local model runtime's command line.

Its commands (`prepare`, `serve`) arrive with the edge worker itself; until then it reports its
version so the console script that deployments call already exists.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import PackageNotFoundError, version


def _version() -> str:
    try:
        return version("edge-inference-router")
    except PackageNotFoundError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="edge-worker", description="The edge worker: a local model runtime on onnxruntime."
    )
    parser.add_argument("--version", action="version", version=f"edge-worker {_version()}")
    parser.parse_args(argv)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
