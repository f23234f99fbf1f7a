"""The node config: what one router process serves, in front of which endpoints.

Validated once at start-up (unknown keys are errors) and then read-only. Every field is
documented in docs/configuration.md; keep the two in step. Secrets are never in this file: an
endpoint names the environment variable that holds its key, and only `router.config.loader` reads
the environment.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

Objective = Literal["latency", "cost", "balanced"]
# Whose API an endpoint is: OpenAI's (or compatible) or Anthropic's. It sets the defaults of the
# APIs the endpoint speaks and of how it authenticates (router/forwarding/upstream_format.py).
ProviderKind = Literal["openai", "anthropic"]
# The wire formats an endpoint may speak natively: OpenAI's Chat Completions and Responses,
# Anthropic's Messages.
WireApi = Literal["chat", "responses", "messages"]
# How an endpoint takes its key: `Authorization: Bearer <key>`, or the bare key in `x-api-key`.
AuthScheme = Literal["bearer", "x-api-key"]
_DEFAULT_APIS: dict[ProviderKind, tuple[WireApi, ...]] = {
    "openai": ("chat",),
    "anthropic": ("messages",),
}
_DEFAULT_AUTH: dict[ProviderKind, AuthScheme] = {"openai": "bearer", "anthropic": "x-api-key"}
ModelKind = Literal["chat", "completion", "embedding"]

PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    max_body_bytes: int = Field(4 * 1024 * 1024, gt=0)
    access_log: bool = True
    # On SIGTERM or SIGINT the router stops accepting, lets requests and streams in flight finish
    # for at most this long, then closes them and exits 0. Under Kubernetes' default 30 s grace.
    drain_timeout_s: NonNegativeFloat = 25.0
    # The front door (docs/security.md): defaults near nginx's and Envoy's, since the router
    # faces the public internet. A client has this long between two reads of its body (nginx
    # client_body_timeout: 60 s); a stall gets 408 and the connection is closed.
    body_read_timeout_s: PositiveFloat = 30.0
    # An idle keep-alive connection is closed after this long (nginx keepalive_timeout: 75 s),
    # as is one that never sends a byte.
    keepalive_timeout_s: PositiveFloat = 75.0
    # From the first byte of a request head, a client has this long to finish it; then 408 and
    # the connection is closed (nginx client_header_timeout: 60 s; Envoy request_headers_timeout:
    # off). Real clients send a head in one write; a slowloris trickles it.
    header_read_timeout_s: PositiveFloat = 10.0
    # Longest request line or header line (nginx large_client_header_buffers: 8 KiB).
    max_header_bytes: int = Field(8192, ge=1024)
    # All header fields of one request together (Envoy max_request_headers_kb: 60 KiB); 431 past.
    max_header_total_bytes: int = Field(60 * 1024, ge=1024)
    # Most header fields in one request (Envoy max_headers_count: 100).
    max_headers: int = Field(100, ge=8)
    # Open client connections; more are closed at once. None: half the open-file limit (after 64
    # kept for the process's own files: router/connection_budget.py), since a
    # proxied request holds an upstream connection too (nginx worker_connections counts both).
    max_connections: int | None = Field(None, gt=0)
    # Bad admin tokens one client address may present within a minute before it gets 429.
    admin_failures_per_minute: int = Field(10, ge=1)


class AuthSettings(Strict):
    # Node-level keys (tenant `node`, no policy). Tenants with policies authenticate with the
    # key hashes of their policy files instead; at least one of the two must be configured.
    api_keys: list[Annotated[str, Field(min_length=1)]] = []


class AdminSettings(Strict):
    # The environment variable holding the bearer token of the admin API (`/admin/*`). Unset, the
    # admin API refuses every request.
    token_env: str | None = None


class RedisSettings(Strict):
    url: str = "redis://127.0.0.1:6379/0"
    # An environment variable holding the URL instead, for a URL that carries a password.
    url_env: str | None = None
    # Prefix of every key the router writes, so several deployments can share one Redis.
    key_prefix: str = Field("edge-router", min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    timeout_ms: PositiveFloat = 250.0
    # After a failure, limits stay local this long before Redis is tried again.
    retry_interval_s: PositiveFloat = 2.0


class LimitsSettings(Strict):
    # `memory`: this process alone; `redis`: shared by every router using the same Redis.
    backend: Literal["memory", "redis"] = "memory"
    redis: RedisSettings = RedisSettings()


class EndpointModel(Strict):
    name: str = Field(min_length=1)
    kind: ModelKind = "chat"
    input_price_per_mtok: NonNegativeFloat = 0.0
    output_price_per_mtok: NonNegativeFloat = 0.0
    # Input tokens the provider serves from its prompt cache (OpenAI bills them at a half to a
    # tenth of the input price, Anthropic's cache reads at a tenth); None: the input price.
    cached_input_price_per_mtok: NonNegativeFloat | None = None


class EndpointSettings(Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    base_url: HttpUrl
    region: str = Field(min_length=1)
    # `edge`: an edge worker on this PoP's own CPU (docs/edge-worker.md); `cloud`: anything else.
    # Said in `x-router-served-by`.
    locality: Literal["cloud", "edge"] = "cloud"
    kind: ProviderKind = "openai"
    # The APIs it speaks natively; unset: its kind's (`openai`: chat, `anthropic`: messages).
    # A request that arrived in one of these APIs is passed through in it; any other is
    # translated, where it can be (docs/api.md).
    apis: tuple[WireApi, ...] = ()
    # How it takes its key; unset: its kind's (`openai`: bearer, `anthropic`: x-api-key).
    auth: AuthScheme | None = None
    models: list[EndpointModel] = Field(min_length=1)
    tags: list[str] = []
    # Requests in flight at once; None: as many connections as the process holds (the open-file
    # limit's half, or server.max_connections: router/connection_budget.py).
    max_concurrency: int | None = Field(None, gt=0)
    api_key_env: str | None = None
    probe_path: str = "/models"

    @field_validator("models")
    @classmethod
    def _unique_models(cls, models: list[EndpointModel]) -> list[EndpointModel]:
        names = [m.name for m in models]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"model listed twice: {', '.join(duplicates)}")
        return models

    @field_validator("apis")
    @classmethod
    def _distinct_apis(cls, apis: tuple[WireApi, ...]) -> tuple[WireApi, ...]:
        if len(set(apis)) != len(apis):
            raise ValueError("an API is listed twice")
        return apis

    @model_validator(mode="after")
    def _kind_defaults(self) -> EndpointSettings:
        # Frozen: the defaults are filled in through object.__setattr__, once, at validation.
        if not self.apis:
            object.__setattr__(self, "apis", _DEFAULT_APIS[self.kind])
        if self.auth is None:
            object.__setattr__(self, "auth", _DEFAULT_AUTH[self.kind])
        return self

    @property
    def base_url_str(self) -> str:
        return str(self.base_url).rstrip("/")


class AliasTarget(Strict):
    endpoint: str
    model: str


class ModelAlias(Strict):
    alias: str = Field(min_length=1)
    targets: list[AliasTarget] = Field(min_length=1)


class AffinitySettings(Strict):
    """Conversations kept on the endpoint that served them (router/routing/affinity.py)."""

    enabled: bool = True
    # How long a conversation stays on its endpoint after its last turn: the providers' prompt
    # caches keep a prefix about 5 minutes (OpenAI 5-10, Anthropic 5 by default).
    ttl_s: PositiveFloat = 300.0
    # Conversations remembered at once; the oldest are forgotten first.
    max_conversations: int = Field(100_000, ge=1, le=10_000_000)
    # A client's own name for its conversation (otherwise its stable prefix is hashed).
    session_header: str = Field("x-router-session", min_length=1)
    # Which endpoint produced each Responses answer passed through, for the requests that continue
    # it (`previous_response_id`), which only it can answer: kept as long as OpenAI keeps a stored
    # response (30 days), at most this many (the oldest forgotten first). Kept even when
    # `enabled` is false: it is where such a request can go, not a preference.
    responses_ttl_s: PositiveFloat = 30 * 86400.0
    max_responses: int = Field(100_000, ge=1, le=10_000_000)


class RoutingSettings(Strict):
    default_objective: Objective = "balanced"
    # When set, the cheapest endpoint predicted to reach the first token within it wins.
    latency_slo_ms: PositiveFloat | None = None
    deadline_s: PositiveFloat = 120.0
    connect_timeout_s: PositiveFloat = 2.0
    # Time allowed for the upstream's response headers and, when streaming, its first chunk.
    first_byte_timeout_s: PositiveFloat = 60.0
    # A streamed attempt to a target with 20 recent first chunks waits this many times their p95
    # (at least the floor, at most first_byte_timeout_s) before it fails over.
    first_byte_timeout_factor: PositiveFloat = 4.0
    first_byte_timeout_floor_s: PositiveFloat = 10.0
    # Once a streamed answer started, the longest gap between two of its chunks: a stream that
    # stalls is cut with an error event and counts as the endpoint's failure (a timeout). LLM
    # streams send a token every few tens of ms; Envoy's stream_idle_timeout is 5 minutes.
    stream_idle_timeout_s: PositiveFloat = 30.0
    max_attempts: int = Field(3, ge=1, le=10)
    # A request that finds every eligible endpoint at its `max_concurrency` waits this long for a
    # slot (within its deadline) before a 503; at most `capacity_queue` requests wait at once.
    capacity_wait_s: NonNegativeFloat = 2.0
    capacity_queue: int = Field(1024, ge=0)
    # Candidates whose score is within this share of the best are balanced by power of two choices.
    p2c_band: NonNegativeFloat = 0.2
    # Output tokens assumed when a request states no max_tokens, to estimate its price.
    assumed_output_tokens: int = Field(256, gt=0)
    # The client that forwards to cloud endpoints: the lean HTTP/1.1 one (less CPU per request,
    # docs/benchmarks.md) or the reference one on aiohttp's client; both keep the same rules.
    upstream_client: Literal["lean", "aiohttp"] = "lean"
    affinity: AffinitySettings = AffinitySettings()


class HealthSettings(Strict):
    consecutive_failures: int = Field(5, ge=1)
    base_ejection_s: PositiveFloat = 30.0
    max_ejection_s: PositiveFloat = 300.0
    max_ejection_percent: float = Field(50.0, ge=0, le=100)
    probe_interval_s: PositiveFloat = 2.0
    probe_timeout_s: PositiveFloat = 1.0
    probe_failures_to_eject: int = Field(2, ge=1)
    # An endpoint that has never answered is not ejected by failed probes for this long after the
    # router starts tracking it: the edge worker loads its models in a few seconds.
    startup_grace_s: NonNegativeFloat = 30.0


class EstimatorSettings(Strict):
    rtt_alpha: float = Field(0.3, gt=0, le=1)
    # Decay time constant of the peak-sensitive EWMA (Finagle uses 10 s).
    peak_ewma_tau_s: PositiveFloat = 10.0
    # Time to first token assumed for an endpoint with no traffic yet, on top of its RTT.
    prior_ttft_ms: NonNegativeFloat = 200.0


class TracingSettings(Strict):
    exporter: Literal["none", "console", "otlp"] = "none"
    otlp_endpoint: str = "http://127.0.0.1:4318/v1/traces"
    # Each batch's export, retries included; then it is dropped (and logged).
    otlp_timeout_s: PositiveFloat = 10.0
    otlp_compression: Literal["none", "gzip"] = "none"
    service_name: str = "edge-router"
    sample_ratio: float = Field(1.0, ge=0, le=1)
    # A child span per pipeline stage of each sampled request (`stage auth`, ... `stage forward`),
    # for finding where a slow request spent its time; off, the stages' timings are attributes of
    # the request's span only. Seven more spans a request to export.
    stage_spans: bool = False
    # A request the ratio did not sample is traced all the same, after it ended, when it failed
    # (`keep_errors`; a client that left is no error) or took longer than `keep_slower_than_ms`
    # (its first byte for a stream, its whole answer otherwise; None: never for that reason).
    keep_errors: bool = True
    keep_slower_than_ms: PositiveFloat | None = None


class EdgeWorkerSettings(Strict):
    # Start `edge-worker serve` as a child process and restart it when it exits. Off: the worker,
    # if any, runs on its own (a sidecar) and is reached through its endpoint entry all the same.
    spawn: bool = False
    port: int = Field(8300, ge=1, le=65535)
    store: str | None = None  # the model store; default: the worker's own default
    max_batch: int = Field(4, ge=1, le=64)
    queue: int = Field(8, ge=0)
    public_key: str | None = None  # require manifests signed by this Ed25519 key (PEM file)
    # Also load the embedder into the router process, for its own use (the semantic cache).
    embed_in_router: bool = False
    restart_backoff_s: PositiveFloat = 0.5
    max_restart_backoff_s: PositiveFloat = 30.0


class SharedCacheSettings(Strict):
    # Off, this router's cache is its own. On, every answer it stores is also written to Redis
    # (with its embedding and expiry), the other routers on that Redis learn of it from a stream
    # and add it to their own tiers, and a router that starts warms its cache from Redis.
    enabled: bool = False
    redis: RedisSettings = RedisSettings()
    # Start-up waits at most this long for the warm-up (then serves, and the rest is skipped).
    warm_timeout_s: PositiveFloat = 10.0
    # Announcements kept in the stream (approximately), for a router that reconnects.
    stream_max_len: int = Field(10_000, gt=0)


class CacheSettings(Strict):
    # The answer cache at this PoP (docs/cache.md); a tenant's policy turns it on for its
    # requests (`cache.enabled`). Off here, no tenant's requests are cached.
    enabled: bool = True
    max_entries: int = Field(10_000, gt=0)
    max_bytes: int = Field(64 * 1024 * 1024, gt=0)
    # The semantic tier: the last user message matched by meaning, with the edge worker's
    # embedder loaded into the router (its model store: `edge_worker.store`).
    semantic: bool = True
    # Whether a tenant whose policy does not say (`cache.semantic`) is served by meaning. Off:
    # exact hits only. On the independent evaluation no verifier kept precision at 0.99 on
    # every set with a useful hit rate (docs/cache.md, "Verifier"): a tenant opts in knowing
    # what it buys.
    semantic_default: bool = False
    # Cosine similarity a semantic hit needs when a tenant's policy does not say; measured in
    # docs/cache.md.
    similarity_threshold: float = Field(0.90, gt=0, le=1)
    # A partition searched exactly (numpy) moves to an HNSW graph (usearch) past this many
    # entries; measured in docs/cache.md (loadtest/studies/cache_lookup.py).
    graph_min_entries: int = Field(20_000, gt=0)
    # The prefilter's static cosine cut (router/cache/prefilter.py): a question with no stored
    # question this near in its partition is a miss without the transformer. 1.0 sends almost
    # every question to the embedder. Calibrated to keep 99% of hits (docs/cache.md).
    prefilter_cut: float = Field(0.64, ge=-1, le=1)
    # Questions waiting for the embedder past which a look-up answers "miss" rather than wait
    # behind them (docs/cache.md).
    embedder_max_waiting: int = Field(8, gt=0)
    # How long a semantic look-up waits for its question's embedding before the request goes
    # on as a miss (its embedding is dropped); docs/cache.md, "The miss path".
    embedding_wait_ms: float = Field(20.0, gt=0)
    # Stored answers whose question waits to be embedded for the semantic index (in the
    # embedder's background, after look-ups); past it an answer is stored exact-only.
    index_backlog: int = Field(1024, gt=0)
    shared: SharedCacheSettings = SharedCacheSettings()


class PolicySettings(Strict):
    # Tenant policy files (docs/policies.md); a relative path is relative to this config file.
    directory: str | None = None
    watch: bool = True


class MetricsSettings(Strict):
    # A `tenant` label on the per-tenant series (requests, tokens, spend): as many label sets as
    # tenants with policy files, times the other labels. Off, `/metrics` carries no tenant and is
    # open; on, it shows every tenant's traffic, so it needs the admin token like `/admin/*`.
    tenant_label: bool = False
    # Also push every series over OTLP/HTTP to this URL (a collector's
    # `http://127.0.0.1:4318/v1/metrics`), every `otlp_interval_s`; None: `/metrics` only.
    otlp_endpoint: str | None = None
    otlp_interval_s: PositiveFloat = 15.0


class TelemetrySettings(Strict):
    tracing: TracingSettings = TracingSettings()
    metrics: MetricsSettings = MetricsSettings()


class NodeConfig(Strict):
    server: ServerSettings = ServerSettings()
    auth: AuthSettings = AuthSettings()
    admin: AdminSettings = AdminSettings()
    limits: LimitsSettings = LimitsSettings()
    routing: RoutingSettings = RoutingSettings()
    health: HealthSettings = HealthSettings()
    estimators: EstimatorSettings = EstimatorSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    policies: PolicySettings = PolicySettings()
    edge_worker: EdgeWorkerSettings = EdgeWorkerSettings()
    cache: CacheSettings = CacheSettings()
    endpoints: list[EndpointSettings] = Field(min_length=1)
    # Public model names. When empty, every upstream model name is an alias for all endpoints
    # serving it under that name.
    models: list[ModelAlias] = []
