"""The tenant policy: what one tenant may do, and how the router decides for it.

One YAML file per tenant in the policy directory, validated into `TenantPolicy` (unknown keys are
errors). The JSON Schema in `policies/schema.json` is generated from this model
(`edge-router policy schema`) and a test fails when the two drift, so editors can autocomplete and
check policy files. Every field is documented in docs/policies.md.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from router.config.model import Objective
from router.policy.precision_curve import SemanticConfiguration, configuration_for

KeyHash = Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")]
PiiAction = Literal["allow", "redact", "local-only", "block"]
NoFitEndpoint = Literal["refuse", "local-only"]
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
PositiveFloat = Annotated[float, Field(gt=0)]
PositiveInt = Annotated[int, Field(gt=0)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ParameterCaps(Strict):
    max_tokens: PositiveInt | None = Field(
        None, description="Upper bound on max_tokens / max_completion_tokens; larger is refused."
    )
    max_n: PositiveInt | None = Field(None, description="Upper bound on n (choices per request).")
    max_temperature: float | None = Field(
        None, ge=0, le=2, description="Upper bound on temperature."
    )


class TargetOverride(Strict):
    endpoint: Name
    model: str = Field(min_length=1)


class ModelRule(Strict):
    alias: str = Field(min_length=1, description="A public model name this tenant may call.")
    targets: list[TargetOverride] = Field(
        default_factory=list,
        description="Restrict the alias to these (endpoint, upstream model) targets; empty keeps "
        "the node's targets for the alias.",
    )
    caps: ParameterCaps = ParameterCaps()


class Hedging(Strict):
    enabled: bool = False
    max_extra_cost_share: float = Field(
        0.1, ge=0, le=1, description="Hedged attempts may add at most this share to the spend."
    )


class RoutingWeights(Strict):
    latency: float = Field(
        1.0, ge=0, description="Weight of latency / best latency in the `balanced` score."
    )
    cost: float = Field(
        1.0, ge=0, description="Weight of price / best price in the `balanced` score."
    )

    @model_validator(mode="after")
    def _not_both_zero(self) -> RoutingWeights:
        if self.latency == 0 and self.cost == 0:
            raise ValueError("at least one of `latency` and `cost` must be above 0")
        return self


class RoutingPolicy(Strict):
    objective: Objective = "balanced"
    latency_slo_ms: PositiveFloat | None = Field(
        None, description="Cheapest endpoint predicted to reach the first token within this wins."
    )
    allowed_regions: list[str] = Field(
        default_factory=list, description="Only endpoints in these regions; empty allows all."
    )
    weights: RoutingWeights = RoutingWeights()
    max_attempts: int | None = Field(
        None,
        ge=1,
        le=10,
        description="Attempts per request, fail-over included (1 = no fail-over); unset uses the "
        "node config's `routing.max_attempts`.",
    )
    deadline_s: PositiveFloat | None = Field(
        None,
        description="The whole request's budget in seconds from its arrival, across attempts and "
        "a streamed answer; unset uses the node config's `routing.deadline_s`.",
    )
    hedging: Hedging = Hedging()
    explain: Literal["full", "short"] = Field(
        "short",
        description="`full`: `x-router-reason` names the endpoints weighed, their predicted "
        "latency and price, and the endpoints failed over from, and `x-router-endpoint` is set; "
        "`short`: only the objective and what the policy decided, and counts of fail-overs.",
    )
    request_overrides: bool = Field(
        False,
        description="Let a request choose its objective (`x-router-objective`) and any SLO "
        "(`x-router-latency-slo-ms`); off, a request may only ask for a stricter SLO than "
        "`latency_slo_ms`, and headers that would loosen the policy are ignored.",
    )


class PrivacyPolicy(Strict):
    required_tags: list[str] = Field(
        default_factory=list,
        description="Tags every endpoint serving this tenant must carry; a request may add tags "
        "but never remove these.",
    )
    on_pii: PiiAction = Field(
        "allow",
        description="What a request carrying PII (docs/privacy.md) becomes: `allow` (sent as is, "
        "to endpoints carrying `pii_tags` only), `redact` (values replaced by placeholders "
        "before it leaves, restored in the answer), `local-only` (answered by the edge worker "
        "or the cache, never forwarded) or `block` (400 naming the kinds found).",
    )
    pii_tags: list[str] = Field(
        default_factory=lambda: ["pii"],
        description="With `allow`: tags an endpoint must carry to receive this tenant's PII in "
        "the clear, added to a request's required tags when PII is found in it.",
    )
    no_fit_endpoint: NoFitEndpoint = Field(
        "refuse",
        description="With `allow`, when no endpoint carries the tags the request's PII needs: "
        "`refuse` (503 `no_endpoint_for_pii`) or `local-only` (the edge worker answers: the "
        "data stays, so `pii_tags` do not apply to it).",
    )
    log_content: bool = Field(
        False,
        description="Put prompts and completions into the request's span and access-log line, "
        "with their PII redacted. Off, they appear in no log, span or metric.",
    )
    provider_storage: Literal["as_asked", "never"] = Field(
        "as_asked",
        description="Whether a provider may keep this tenant's requests and answers (OpenAI's "
        "`store`): `never` sends `store: false` in place of a client's `store: true`; "
        "`as_asked` leaves the request as the client sent it. To keep data at endpoints that "
        "retain nothing, require their tag in `required_tags` (e.g. `zero-retention`).",
    )


class LimitsPolicy(Strict):
    requests_per_minute: PositiveInt | None = None
    tokens_per_minute: PositiveInt | None = Field(None, description="Input plus output tokens.")
    concurrent_requests: PositiveInt | None = None
    daily_budget_usd: PositiveFloat | None = None
    monthly_budget_usd: PositiveFloat | None = None


class CachePolicy(Strict):
    enabled: bool = True
    semantic: bool | None = Field(
        None,
        description="Serve answers to questions worded differently (the semantic tier). Unset "
        "uses the node's cache.semantic_default (off: exact hits only). docs/cache.md gives the "
        "precision and hit rate each threshold buys on independent data.",
    )
    similarity_threshold: float | None = Field(
        None,
        gt=0,
        le=1,
        description="Cosine similarity a semantic hit needs; unset uses the node's measured "
        "default (docs/cache.md).",
    )
    semantic_embedder: Literal["transformer", "static"] = Field(
        "transformer",
        description="How questions are compared by meaning: `transformer` (all-MiniLM-L6-v2, "
        "a few milliseconds a question, off the event loop) or `static` (the static embedding "
        "distilled from it: about 0.1 ms, no model run, a little less precise at the same hit "
        "rate; docs/cache.md#the-static-embedder). `static` takes a `similarity_threshold`, not a "
        "`semantic_precision` (the curve is the transformer's).",
    )
    semantic_precision: float | None = Field(
        None,
        gt=0,
        le=1,
        description="The precision the semantic tier must keep, instead of a raw "
        "`similarity_threshold` (not both): mapped, when the policy loads, to the verifier and "
        "threshold that hit the most rewordings at a worst-case precision of at least this on "
        "the evaluation's measured curve (docs/cache.md#precision-target); a target no measured "
        "configuration reaches is refused.",
    )
    ttl_s: PositiveInt = 3600
    max_temperature: float = Field(
        0.0, ge=0, le=2, description="Requests with a higher temperature are never served cached."
    )
    charge_hits: bool = Field(
        False,
        description="Charge a cached answer what it cost when first served (its tokens and "
        "price count toward limits and budgets); off, hits are free and their cost is counted "
        "as saved (`saved_usd` in the usage report).",
    )
    tools: bool = Field(
        False,
        description="Cache answers to requests that offer the model tools or functions. Off, "
        "such requests bypass the cache. Answers that call a tool are never cached either way.",
    )
    # The precision target's (verifier, threshold), mapped once when the policy loads.
    _semantic_target: SemanticConfiguration | None = PrivateAttr(None)

    @field_validator("semantic_precision")
    @classmethod
    def _reachable_and_alone(cls, target: float | None, info: ValidationInfo) -> float | None:
        if target is None:
            return None
        # `similarity_threshold` and `semantic_embedder` are declared first, so they were
        # validated already.
        if info.data.get("semantic_embedder") == "static":
            raise ValueError(
                "`semantic_precision` is mapped on the transformer's measured curve: with "
                "`semantic_embedder: static`, set `similarity_threshold` instead"
            )
        if info.data.get("similarity_threshold") is not None:
            raise ValueError(
                "set either `semantic_precision` or `similarity_threshold`, not both: the "
                "target chooses the threshold"
            )
        configuration_for(target)  # PrecisionUnreachable (a ValueError) says what is reachable
        return target

    def model_post_init(self, context: Any, /) -> None:
        if self.semantic_precision is not None:
            self._semantic_target = configuration_for(self.semantic_precision)

    @property
    def semantic_target(self) -> SemanticConfiguration | None:
        """The verifier and threshold `semantic_precision` maps to; None without a target."""
        return self._semantic_target


class SplitArm(Strict):
    alias: str = Field(min_length=1, description="The alias this share of traffic is sent to.")
    weight: float = Field(gt=0)


class Experiment(Strict):
    name: Name
    applies_to: str = Field(min_length=1, description="The alias whose traffic is split.")
    arms: list[SplitArm] = Field(min_length=2)
    sticky_by: Literal["user", "header"] = Field(
        "user",
        description="Hash the request's `user` field, or a header, to keep a user on one arm.",
    )
    header: str | None = Field(None, description="The header to hash when sticky_by is `header`.")

    @model_validator(mode="after")
    def _header_named_when_sticky_by_header(self) -> Experiment:
        if self.sticky_by == "header" and not self.header:
            raise ValueError("`header` is required when sticky_by is `header`")
        return self


class CascadePolicy(Strict):
    aliases: list[str] = Field(
        default_factory=list,
        description="Of `local.aliases`: non-streaming requests answered by the edge first and "
        "kept only when the answer is confident enough, otherwise sent to the cloud.",
    )
    min_confidence: float = Field(
        -1.71,
        le=0,
        description="The 10th percentile of the local answer's token log-probabilities must "
        "reach this (docs/edge-worker.md: -1.71 keeps 80% of right answers local).",
    )


class LocalPolicy(Strict):
    aliases: list[str] = Field(
        default_factory=list,
        description="Aliases the edge worker may answer for this tenant (where the node config "
        "gives the alias an endpoint of locality `edge`); empty keeps every request in the cloud.",
    )
    max_prompt_tokens: PositiveInt | None = Field(
        None, description="Longer prompts (estimated) are never answered locally."
    )
    first: list[str] = Field(
        default_factory=list,
        description="Of `aliases`, those answered locally first; the cloud only when the edge "
        "fails.",
    )
    cascade: CascadePolicy = CascadePolicy()
    offline_fallback: bool = Field(
        True,
        description="When no cloud endpoint for the alias is available, or every one failed, "
        "answer locally.",
    )


class TenantPolicy(Strict):
    tenant: Name
    api_keys: list[KeyHash] = Field(
        min_length=1,
        description="SHA-256 hashes of the tenant's API keys (`edge-router policy hash-key`); "
        "list two to rotate.",
    )
    models: list[ModelRule] = Field(min_length=1)
    routing: RoutingPolicy = RoutingPolicy()
    privacy: PrivacyPolicy = PrivacyPolicy()
    limits: LimitsPolicy = LimitsPolicy()
    cache: CachePolicy = CachePolicy()
    experiments: list[Experiment] = Field(default_factory=list)
    local: LocalPolicy = LocalPolicy()
