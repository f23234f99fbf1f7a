"""A real router in front of a real simulated cloud, on loopback ports, for integration tests.

Both run in the test's event loop on real sockets; the router is the production app from
`build_app`, configured from YAML text like an operator's node config.
"""

from __future__ import annotations

import io
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import yaml
from aiohttp import web
from openai import AsyncOpenAI
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from loadtest.mock_cloud.cloud import MockCloud
from loadtest.mock_cloud.settings import CloudSettings, ControlSettings, RegionSettings
from router.clock import Clock
from router.config.loader import parse_node_config
from router.server import build_app, serve
from router.telemetry.access_log import AccessLog
from tests.openai_clients import async_openai

API_KEY = "sk-test-router"
ADMIN_TOKEN = "admin-test-token"
ADMIN_TOKEN_ENV = "TEST_ADMIN_TOKEN"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

DEFAULT_REGIONS = (
    RegionSettings(name="us-east", rtt_ms=2.0),
    RegionSettings(name="eu-west", rtt_ms=10.0),
    RegionSettings(name="ap-south", rtt_ms=25.0),
)
REGION_TAGS = {
    "us-east": ["zero-retention"],
    "eu-west": ["eu-resident", "zero-retention"],
    "ap-south": ["hipaa"],
}


@dataclass
class Stack:
    cloud: MockCloud
    app: web.Application
    url: str
    spans: InMemorySpanExporter
    http: aiohttp.ClientSession
    access_log: AccessLog
    access_log_stream: io.BytesIO

    def access_log_lines(self) -> list[dict[str, Any]]:
        self.access_log.flush()
        return [orjson.loads(line) for line in self.access_log_stream.getvalue().splitlines()]

    def client(self, **options: Any) -> AsyncOpenAI:
        options.setdefault("api_key", API_KEY)
        options.setdefault("max_retries", 0)
        return async_openai(f"{self.url}/v1", **options)

    async def control(self, region: str, **fields: Any) -> dict[str, Any]:
        async with self.http.patch(
            f"{self.cloud.control_url}/control/regions/{region}", json=fields
        ) as response:
            assert response.status == 200, await response.text()
            result: dict[str, Any] = await response.json()
            return result

    async def region_stats(self, region: str) -> dict[str, Any]:
        async with self.http.get(
            f"{self.cloud.control_url}/control/regions/{region}/stats"
        ) as response:
            result: dict[str, Any] = await response.json()
            return result

    async def received(self, region: str) -> list[dict[str, Any]]:
        async with self.http.get(
            f"{self.cloud.control_url}/control/regions/{region}/requests"
        ) as response:
            result = await response.json()
            records: list[dict[str, Any]] = (
                result["requests"] if isinstance(result, dict) else result
            )
            return records

    async def admin(self, path: str, expect_status: int = 200) -> Any:
        """GET an admin API path with the admin token; its JSON body."""
        async with self.http.get(f"{self.url}{path}", headers=ADMIN_HEADERS) as response:
            assert response.status == expect_status, await response.text()
            return await response.json()

    async def admin_endpoints(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.admin("/admin/endpoints")
        return result


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _empty_model_list(request: web.Request) -> web.StreamResponse:
    return web.json_response({"object": "list", "data": []})


@asynccontextmanager
async def scripted_upstream(port: int, chat: Handler | None = None) -> AsyncIterator[None]:
    """A small fake endpoint on `port`: any GET (the prober's) gets an empty model list, and a
    chat completion is answered by `chat`."""
    app = web.Application()
    if chat is not None:
        app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/{path:.*}", _empty_model_list)
    # A handler still waiting at the end is cancelled (aiohttp reads 0 as "wait for ever").
    runner = web.AppRunner(app, shutdown_timeout=0.01)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield
    finally:
        await runner.cleanup()


def explained(policy_yaml: str) -> str:
    """A tenant policy that sees the full routing reason (`routing.explain: full`), for tests that
    read which endpoints were weighed and failed over from."""
    policy = yaml.safe_load(policy_yaml)
    policy.setdefault("routing", {}).setdefault("explain", "full")
    return yaml.safe_dump(policy, sort_keys=False)


def edge_endpoint(port: int) -> dict[str, Any]:
    """A node config's entry for the PoP's local models (the edge worker) on `port`."""
    return {
        "name": "edge",
        "base_url": f"http://127.0.0.1:{port}/v1",
        "region": "pop",
        "locality": "edge",
        "models": [{"name": "smollm2-135m-instruct"}],
    }


def key_env(endpoint: str) -> str:
    return f"TEST_KEY_{endpoint.upper().replace('-', '_')}"


def node_config(
    cloud: MockCloud,
    overrides: Mapping[str, Any] | None = None,
    keyed: frozenset[str] = frozenset(),
    endpoint_fields: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """A node config for the cloud's regions; `overrides` replaces fields section by section;
    endpoints in `keyed` read their provider key from the environment variable `key_env(name)`;
    `endpoint_fields` replaces fields of the named regions' endpoints (`locality`, `tags`)."""
    config: dict[str, Any] = {
        "auth": {"api_keys": [API_KEY]},
        "admin": {"token_env": ADMIN_TOKEN_ENV},
        # On where a test is about the cache; a semantic look-up waits for its embedding however
        # loaded the machine is (the bound itself is tested in tests/cache/test_miss_path.py).
        "cache": {"enabled": False, "embedding_wait_ms": 60_000},
        "health": {"probe_interval_s": 0.2, "probe_timeout_s": 0.5},
        "routing": {"connect_timeout_s": 0.5, "first_byte_timeout_s": 2, "deadline_s": 10},
        "endpoints": [
            {
                "name": name,
                "base_url": region.base_url,
                "region": name,
                "tags": REGION_TAGS.get(name, []),
                "max_concurrency": 64,
                **({"api_key_env": key_env(name)} if name in keyed else {}),
                "models": [
                    {
                        "name": "gpt-4o-mini",
                        "input_price_per_mtok": 0.15,
                        "output_price_per_mtok": 0.6,
                    },
                    {"name": "gpt-4o", "input_price_per_mtok": 2.5, "output_price_per_mtok": 10},
                    {
                        "name": "text-embedding-3-small",
                        "kind": "embedding",
                        "input_price_per_mtok": 0.02,
                    },
                ],
                **(endpoint_fields or {}).get(name, {}),
            }
            for name, region in cloud.regions.items()
        ],
    }
    for section, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(config.get(section), dict):
            config[section] = {**config[section], **value}
        else:
            config[section] = value
    return config


@asynccontextmanager
async def running_stack(
    regions: Sequence[RegionSettings] = DEFAULT_REGIONS,
    overrides: Mapping[str, Any] | None = None,
    seed: int = 7,
    endpoint_keys: Mapping[str, str] | None = None,
    extra_environ: Mapping[str, str] | None = None,
    clock: Clock | None = None,
    extra_endpoints: Sequence[Mapping[str, Any]] = (),
    endpoint_fields: Mapping[str, Mapping[str, Any]] | None = None,
    cloud: MockCloud | None = None,
) -> AsyncIterator[Stack]:
    """`endpoint_keys` maps an endpoint to the provider key the router gets from its environment;
    `cloud`: another stack's simulated cloud, for a router beside that stack's (`regions` is then
    ignored)."""
    settings = CloudSettings(control=ControlSettings(port=0), regions=tuple(regions))
    exporter = InMemorySpanExporter()
    clouds: AbstractAsyncContextManager[MockCloud] = (
        MockCloud(settings, seed=seed) if cloud is None else nullcontext(cloud)
    )
    async with clouds as cloud, aiohttp.ClientSession() as http:
        keys = dict(endpoint_keys or {})
        config = node_config(cloud, overrides, frozenset(keys), endpoint_fields)
        config["endpoints"] = [*config["endpoints"], *extra_endpoints]
        environ = {key_env(name): key for name, key in keys.items()}
        environ[ADMIN_TOKEN_ENV] = ADMIN_TOKEN
        environ.update(extra_environ or {})
        loaded = parse_node_config(yaml.safe_dump(config, sort_keys=False), "node.yaml", environ)
        stream = io.BytesIO()
        access_log = AccessLog(stream)
        app = build_app(
            loaded,
            clock=clock,
            rng=random.Random(seed),
            span_processor=SimpleSpanProcessor(exporter),
            access_log=access_log,
        )
        runner = await serve(app, ("127.0.0.1", 0))
        try:
            host, port = runner.addresses[0][:2]
            yield Stack(cloud, app, f"http://{host}:{port}", exporter, http, access_log, stream)
        finally:
            await runner.cleanup()
