"""`edge-router`: the production entry point.

    edge-router serve --config node.yaml [--host H] [--port P] [--workers N]
    edge-router config check node.yaml
    edge-router --version
    edge-router policy check policies/
    edge-router policy hash-key < key.txt
    edge-router policy schema > policies/schema.json

uvloop is installed here and only here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from router.config.loader import LoadedNodeConfig, load_node_config
from router.config.yaml_source import ConfigInvalid, ConfigProblem
from router.pool_membership import PoolMembership
from router.ports import PortInUse, ensure_free, listening_socket, reuseport_sockets
from router.telemetry.gc_pauses import settle_after_start
from router.telemetry.log_context import configure_logging
from router.version import installed_version
from router.worker_plan import WorkersRefused, as_pool_worker, plan_workers
from router.worker_pool import WorkerPool


def _serve(args: argparse.Namespace) -> int:
    try:
        loaded = load_node_config(Path(args.config))
    except ConfigInvalid as invalid:
        print(f"invalid node config:\n{invalid}", file=sys.stderr)
        return 2
    if args.listen_fd is not None:
        # One of the processes of `serve --workers N`, started by its supervisor.
        own = socket.socket(fileno=args.listen_fd)
        pool = PoolMembership.parse(args.pool_dir, args.worker_index)
        return _run_loop(_run(as_pool_worker(loaded, pool), own, pool))
    try:
        plan = plan_workers(args.workers, loaded, Path(args.config), args.log_level)
    except WorkersRefused as refused:
        print(f"edge-router: {refused}", file=sys.stderr)
        return 2
    server = loaded.config.server
    host = args.host or server.host
    port = server.port if args.port is None else args.port
    try:
        listening = _claim_ports(loaded, host, port, plan.workers)
    except PortInUse as busy:
        print(f"edge-router: {busy}", file=sys.stderr)
        return 1
    if plan.workers == 1:
        return _run_loop(_run(loaded, listening[0]))
    # Each worker inherits its socket; the supervisor itself serves nothing.
    return _run_loop(WorkerPool(loaded, listening, plan).run(until_stopped()))


def _run_loop(main: Coroutine[Any, Any, int]) -> int:
    # Work handed to threads (a large body's PII scan) gives the GIL back to the event loop every
    # millisecond rather than every 5: measured, a timer on the loop ran 1.2 ms late (p50) instead
    # of 5.2 ms while a 1 MB body was scanned, at the same scan speed.
    sys.setswitchinterval(0.001)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; plain asyncio still works
        return asyncio.run(main)
    return uvloop.run(main)


def _claim_ports(
    loaded: LoadedNodeConfig, host: str, port: int, workers: int
) -> list[socket.socket]:
    """The router's listening socket (one per worker, with SO_REUSEPORT, for several), once the
    edge worker's port is known to be free too; nothing else has started yet, so a second
    instance fails here with one line."""
    purpose = "the router's server.port"
    if workers == 1:
        listening = [listening_socket(host, port, purpose)]
    else:
        listening = reuseport_sockets(host, port, workers, purpose)
    worker = loaded.config.edge_worker
    if worker.spawn:
        try:
            ensure_free("127.0.0.1", worker.port, "the edge worker's edge_worker.port")
        except PortInUse:
            for sock in listening:
                sock.close()
            raise
    return listening


async def _run(
    loaded: LoadedNodeConfig, listening: socket.socket, pool: PoolMembership | None = None
) -> int:
    """Serve on `listening` until SIGTERM or SIGINT, then drain. `pool`: this process is one
    worker of `serve --workers N`, also answering its siblings on its own Unix socket."""
    from aiohttp import web

    from router.front_door import raise_fd_limit
    from router.server import build_app, serve

    log = logging.getLogger("edge_router")
    before, after = raise_fd_limit()  # before the connection cap is derived from it
    log.info("open-file limit: %d (was %d; the hard limit caps it)", after, before)
    drain_timeout_s = loaded.config.server.drain_timeout_s
    runner = await serve(build_app(loaded, pool=pool), listening, drain_timeout_s=drain_timeout_s)
    if pool is not None:
        pool.own_socket.unlink(missing_ok=True)  # left by this worker's previous run, if any
        await web.UnixSite(runner, str(pool.own_socket)).start()
    bound = [s.name for s in runner.sites]
    log.info("edge-router listening on %s", ", ".join(bound))
    frozen = settle_after_start()
    log.info("froze %d start-up objects out of the garbage collector's reach", frozen)
    received = await until_stopped()
    log.info(
        "edge-router: %s received; no longer accepting, draining requests in flight "
        "for up to %.0f s",
        received.name,
        drain_timeout_s,
    )
    await runner.cleanup()
    log.info("edge-router stopped")
    return 0


async def until_stopped() -> signal.Signals:
    """Return the signal on SIGINT or SIGTERM (how Kubernetes and a terminal stop a server)."""
    received: asyncio.Future[signal.Signals] = asyncio.get_running_loop().create_future()

    def stop(sig: signal.Signals) -> None:
        if not received.done():
            received.set_result(sig)

    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop, sig)
    try:
        return await received
    finally:
        # A second signal during the drain changes nothing: `drain_timeout_s` bounds it.
        for sig in signals:
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, _ignore, sig)


def _ignore(sig: signal.Signals) -> None:
    logging.getLogger("edge_router").info("%s received again; still draining", sig.name)


def _check(args: argparse.Namespace) -> int:
    """The node config and the policy files it points to; an unset secret is only a warning."""
    from router.policy.loader import load_policy_dir

    try:
        loaded = load_node_config(Path(args.config), require_secrets=False)
    except ConfigInvalid as invalid:
        print(invalid, file=sys.stderr)
        return 2
    for missing in loaded.missing_secrets:
        print(
            f"warning: {missing} (`edge-router serve` refuses to start without it)", file=sys.stderr
        )
    directory = loaded.policy_directory
    problems = load_policy_dir(directory).problems if directory is not None else []
    if problems:
        print("\n".join(str(p) for p in problems), file=sys.stderr)
        return 2
    print("ok")
    return 0


def _policy_check(args: argparse.Namespace) -> int:
    from router.policy.loader import load_policy_dir, load_policy_file

    problems: list[ConfigProblem] = []
    for target in map(Path, args.paths):
        if target.is_dir():
            problems.extend(load_policy_dir(target).problems)
            continue
        try:
            load_policy_file(target)
        except ConfigInvalid as invalid:
            problems.extend(invalid.problems)
    if problems:
        print("\n".join(str(p) for p in problems), file=sys.stderr)
        return 2
    print("ok")
    return 0


def _policy_hash_key(args: argparse.Namespace) -> int:
    from router.policy.keys import hash_key

    # Read from stdin by default so the key stays out of shell history and process lists.
    key = args.key if args.key is not None else sys.stdin.readline().strip()
    if not key:
        print("no key given", file=sys.stderr)
        return 2
    print(hash_key(key))
    return 0


def _policy_schema(args: argparse.Namespace) -> int:
    from router.policy.schema import policy_schema_json

    sys.stdout.write(policy_schema_json())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edge-router", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"edge-router {installed_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the router")
    serve.add_argument("--config", required=True, help="node config YAML")
    serve.add_argument("--host", default=None, help="override server.host")
    serve.add_argument("--port", type=int, default=None, help="override server.port")
    serve.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        help="router processes sharing the port (default: the CPUs this process may use)",
    )
    serve.add_argument("--log-level", default="INFO")
    # Set by the supervisor of `--workers N` for the processes it starts; not for operators.
    serve.add_argument("--listen-fd", type=int, default=None, help=argparse.SUPPRESS)
    serve.add_argument("--worker-index", default=None, help=argparse.SUPPRESS)
    serve.add_argument("--pool-dir", default=None, help=argparse.SUPPRESS)
    serve.set_defaults(func=_serve)
    config = commands.add_parser("config", help="node config tools")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser(
        "check",
        help="validate a node config file and its policy files (an unset secret only warns)",
    )
    check.add_argument("config")
    check.set_defaults(func=_check)
    policy = commands.add_parser("policy", help="tenant policy tools")
    policy_commands = policy.add_subparsers(dest="policy_command", required=True)
    policy_check = policy_commands.add_parser(
        "check", help="validate policy files or directories: prints ok or every problem"
    )
    policy_check.add_argument("paths", nargs="+")
    policy_check.set_defaults(func=_policy_check)
    hash_key = policy_commands.add_parser(
        "hash-key", help="print the sha256 hash of an API key (read from stdin if not given)"
    )
    hash_key.add_argument("key", nargs="?")
    hash_key.set_defaults(func=_policy_hash_key)
    schema = policy_commands.add_parser("schema", help="print the policy JSON Schema")
    schema.set_defaults(func=_policy_schema)
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    worker = getattr(args, "worker_index", None)
    configure_logging(
        getattr(args, "log_level", "INFO"), None if worker is None else f"worker {worker}"
    )
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
