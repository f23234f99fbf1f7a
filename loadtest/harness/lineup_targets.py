"""What each target of a line-up (`lineup`) is and how it starts: its command on a given port, its
base URL, the URL that answers once it is up, and the upstreams its config names (checked against
the simulated cloud's regions before anything starts).

- `direct`: the simulated cloud's first region; no process of its own (its process, for CPU and
  RSS, is the cloud's);
- `bare`: the bare aiohttp pass-through (`bare_proxy`) to that region, the floor a Python proxy
  pays;
- `router`: `python -m router.cli serve` on a node config (the suite starts it, never imports it);
- `litellm`, `portkey`: the peers, each from its own environment (`make peers`: .venv-peers/litellm,
  .peers/portkey) on its config in deploy/bench/peers/, with nothing reaching past loopback.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from loadtest.harness.proxy_settings import LOOPBACK, REPO_ROOT

TARGET_NAMES: Final = ("direct", "bare", "router", "litellm", "portkey")
PEERS: Final = ("litellm", "portkey")
PEERS_CONFIG_DIR: Final = REPO_ROOT / "deploy" / "bench" / "peers"
LITELLM_CONFIG: Final = PEERS_CONFIG_DIR / "litellm.yaml"
PORTKEY_CONFIG: Final = PEERS_CONFIG_DIR / "portkey.yaml"
PORTKEY_START: Final = PEERS_CONFIG_DIR / "portkey-start.mjs"
# Peers get a clean environment: not the suite's PYTHONPATH (the repository, whose `router`
# package a peer must never see), no cost map fetched from the network (LiteLLM reads its
# bundled copy), no usage telemetry, no `.env` file read (LiteLLM's development mode does).
_LITELLM_ENV: Final = (
    "LITELLM_LOCAL_MODEL_COST_MAP=True",
    "LITELLM_TELEMETRY=False",
    "LITELLM_MODE=PRODUCTION",
)


class LineupError(RuntimeError):
    """A line-up that cannot run, said in one line (a name, a file and field, what to do)."""


class PeerMissing(LineupError):
    pass


@dataclass(frozen=True, slots=True)
class PeerInstalls:
    """Where `make peers` puts the peers: under the repository unless told otherwise."""

    root: Path = REPO_ROOT

    @property
    def litellm(self) -> Path:
        return self.root / ".venv-peers" / "litellm" / "bin" / "litellm"

    @property
    def portkey(self) -> Path:
        return self.root / ".peers/portkey/node_modules/@portkey-ai/gateway/build/start-server.js"

    def check(self, names: tuple[str, ...]) -> None:
        """Raise PeerMissing, one line, for the first named peer that is not installed."""
        for name in names:
            if name == "litellm" and not self.litellm.is_file():
                raise PeerMissing(
                    f"LiteLLM is not installed ({self.litellm} is missing): run `make peers`"
                )
            if name == "portkey" and not self.portkey.is_file():
                raise PeerMissing(
                    f"Portkey's gateway is not installed ({self.portkey} is missing): "
                    "run `make peers`"
                )
            if name == "portkey" and shutil.which("node") is None:
                raise PeerMissing("Portkey's gateway needs node, which is not on PATH")


@dataclass(frozen=True, slots=True)
class Launch:
    """How one target starts (no argv: nothing to start) and where it answers."""

    name: str
    argv: tuple[str, ...]
    base_url: str  # e.g. http://127.0.0.1:8090/v1
    ready_url: str  # answers 2xx once the target takes requests


def parse_target_names(text: str) -> tuple[str, ...]:
    """`direct,bare,router`: known names, each once, in the order given."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [name for name in names if name not in TARGET_NAMES]
    if not names or unknown:
        raise LineupError(
            f"--start: {', '.join(unknown) or 'nothing named'}: choose among "
            f"{', '.join(TARGET_NAMES)}"
        )
    if len(set(names)) != len(names):
        raise LineupError(f"--start names a target twice: {text}")
    return names


def launch(
    name: str, port: int, direct_url: str, router_config: Path, installs: PeerInstalls
) -> Launch:
    """The command starting target `name` on loopback `port`; `direct_url` is the cloud region
    direct and the bare proxy talk to (with /v1)."""
    base = f"http://{LOOPBACK}:{port}"
    listen = f"{LOOPBACK}:{port}"
    argv: tuple[str, ...]
    if name == "direct":
        return Launch(name, (), direct_url, f"{direct_url}/models")
    if name == "bare":
        upstream = direct_url.removesuffix("/v1")
        module = "loadtest.harness.bare_proxy"
        argv = (sys.executable, "-m", module, "--listen", listen, "--upstream", upstream)
        return Launch(name, argv, f"{base}/v1", f"{base}/v1/models")
    if name == "router":
        command = ("serve", "--config", str(router_config), "--port", str(port), "--workers", "1")
        argv = (sys.executable, "-m", "router.cli", *command)
        return Launch(name, argv, f"{base}/v1", f"{base}/readyz")
    if name == "litellm":
        # One worker: one process on one core, as the router runs.
        serve = ("--config", str(LITELLM_CONFIG), "--host", LOOPBACK, "--port", str(port))
        argv = (*_clean_env(_LITELLM_ENV), str(installs.litellm), *serve, "--num_workers", "1")
        return Launch(name, argv, f"{base}/v1", f"{base}/health/liveliness")
    if name == "portkey":
        config = json.dumps(_mapping(PORTKEY_CONFIG), separators=(",", ":"))
        node = shutil.which("node") or "node"
        gateway = (str(PORTKEY_START), str(installs.portkey), f"--port={port}", "--headless")
        argv = (*_clean_env((f"PORTKEY_DEFAULT_CONFIG={config}",)), node, *gateway)
        return Launch(name, argv, f"{base}/v1", f"{base}/")
    raise LineupError(f"unknown target {name!r}")


def _clean_env(assignments: tuple[str, ...]) -> tuple[str, ...]:
    # `env` execs the program, so the process started is the peer itself (its pid is the one
    # measured), with the suite's PYTHONPATH dropped.
    return ("env", "-u", "PYTHONPATH", *assignments)


def config_upstreams(name: str, config: Path) -> list[tuple[str, str]]:
    """(field, URL) of every upstream the config of target `name` names: what is checked against
    the simulated cloud's regions before a line-up starts."""
    data = _mapping(config)
    if name == "router":
        return _urls(config, data, "endpoints", ("base_url",))
    if name == "litellm":
        return _urls(config, data, "model_list", ("litellm_params", "api_base"))
    if name == "portkey":
        return _urls(config, data, "targets", ("custom_host",))
    return []


def _urls(
    config: Path, data: dict[str, Any], list_key: str, path: tuple[str, ...]
) -> list[tuple[str, str]]:
    items = data.get(list_key)
    if not isinstance(items, list) or not items:
        raise LineupError(f"{config}: {list_key}: must be a non-empty list")
    urls = []
    for index, item in enumerate(items):
        field = f"{list_key}[{index}].{'.'.join(path)}"
        value: object = item
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if not isinstance(value, str) or not value:
            raise LineupError(f"{config}: {field}: must be a URL")
        urls.append((field, value.rstrip("/")))
    return urls


def _mapping(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise LineupError(f"{path}: cannot be read as YAML: {error}") from None
    if not isinstance(data, dict):
        raise LineupError(f"{path}: must be a mapping")
    return data
