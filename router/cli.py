"""`edge-router`: the production entry point.

    edge-router serve --config node.yaml [--host H] [--port P]
    edge-router config check node.yaml

uvloop is installed here and only here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from router.config.loader import LoadedNodeConfig, load_node_config
from router.config.yaml_source import ConfigInvalid


def _serve(args: argparse.Namespace) -> int:
    try:
        loaded = load_node_config(Path(args.config))
    except ConfigInvalid as invalid:
        print(f"invalid node config:\n{invalid}", file=sys.stderr)
        return 2
    server = loaded.config.server
    host = args.host or server.host
    port = server.port if args.port is None else args.port
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; plain asyncio still works
        return asyncio.run(_run(loaded, host, port))
    return uvloop.run(_run(loaded, host, port))


async def _run(loaded: LoadedNodeConfig, host: str, port: int) -> int:
    from router.server import build_app, serve

    runner = await serve(build_app(loaded), host, port)
    bound = [s.name for s in runner.sites]
    logging.getLogger("edge_router").info("edge-router listening on %s", ", ".join(bound))
    await until_stopped()
    await runner.cleanup()
    return 0


async def until_stopped() -> None:
    """Return on SIGINT or SIGTERM (how Kubernetes and a terminal stop a server)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def _check(args: argparse.Namespace) -> int:
    try:
        load_node_config(Path(args.config))
    except ConfigInvalid as invalid:
        print(invalid, file=sys.stderr)
        return 2
    print("ok")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edge-router", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the router")
    serve.add_argument("--config", required=True, help="node config YAML")
    serve.add_argument("--host", default=None, help="override server.host")
    serve.add_argument("--port", type=int, default=None, help="override server.port")
    serve.add_argument("--log-level", default="INFO")
    serve.set_defaults(func=_serve)
    config = commands.add_parser("config", help="node config tools")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser("check", help="validate a node config file")
    check.add_argument("config")
    check.set_defaults(func=_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(args, "log_level", "INFO"), format="%(asctime)s %(name)s %(message)s"
    )
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
