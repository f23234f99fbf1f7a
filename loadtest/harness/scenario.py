"""A scenario: a named workload in phases, the SLOs its goodput is judged by, and its smoke form.

A scenario is a YAML file in `loadtest/scenarios/` (the file's name is the scenario's):

    description: One line on what it measures.
    slo: {ttft_ms: 500, tpot_ms: 50, latency_ms: 2000}   # optional; goodput's objectives
    phases:                                              # run in order
      - {name: warm, kind: chat-stream, rate_per_s: 50, duration_s: 10, warmup_s: 2}
      - {name: peak, kind: chat-stream, rate_per_s: 200, duration_s: 30, max_tokens: 64}
    smoke: {rate_per_s: 20, duration_s: 0.5}             # what `--smoke` shrinks each phase to

A phase is an open loop at `rate_per_s` (`arrival: fixed` or `poisson`) or a closed loop of
`concurrency` clients; a ramp is phases at rising rates, a sweep phases at rising concurrency. Its
workload is data too: prompt sizes and `max_tokens` as numbers or distributions, a streaming
share, tenants with weights, a cache mix of repeats and rewordings, a PII share, multi-turn
conversations, and Chat, Responses or Messages traffic (`kind`), every draw seeded by `seed`
(`loadtest.generator.settings`; docs/loadtest.md has every field).

A phase may put regions of the simulated cloud in one of its fault modes for its duration
(`fault: {mode: stream_cut, regions: [us-east, ap-south]}`: the public fault catalogue,
`loadtest.mock_cloud.settings.FAULT_MODES`), through the cloud's control API (`--control`); its
result is then judged on the scorecard (`loadtest.harness.scorecard`). With `accounting: true`, a
phase's answers are also checked against what the cloud billed over it (fallback accounting).
Unknown keys are refused, naming the file and the field, so a typo never runs a different
workload than the one written. A phase may also break what surrounds the router (`disruption:
{kind: redis_loss, mode: stop, at_s: 2.0}`: a region lost or browned out, Redis lost, a policy
reload storm, the edge worker crashed; `loadtest.harness.disruptions`), on the stack the suite
starts itself (`run --stack`, `loadtest.harness.stack`).

A scenario may name a topology of the network test bed (`network: edge-pop`, a file of
`loadtest/network/topologies/`): `run --stack` then starts the same stack over it, each part in
a namespace of its own and the load over the link to the PoP (`loadtest.harness.network_stack`),
and its phases may also cut a link or change its shape (`disruption: {kind: partition, link:
[pop, us-east]}`). The links and regions its disruptions name must be the topology's; a fault
mode or an accounting check, which need the one control API of a local cloud, are refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from loadtest.generator.distributions import IntSpec
from loadtest.generator.questions import mix_problem
from loadtest.generator.settings import (
    MAX_CONCURRENCY,
    Arrival,
    CacheMix,
    Conversation,
    LoadSettings,
    RequestKind,
    Tenant,
)
from loadtest.harness.disruption_spec import NETWORK_KINDS, Disruption
from loadtest.mock_cloud.settings import FAULT_MODES
from loadtest.named_yaml import load_named, names_in
from loadtest.network.topology_file import TopologyFile, TopologyInvalid, load_topology

SCENARIOS_DIR = Path(__file__).resolve().parent.parent / "scenarios"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Fault(_Strict):
    """A fault mode the phase puts regions of the simulated cloud in, and its parameters (the
    region settings of the same names, `fault_` dropped)."""

    mode: str
    regions: tuple[str, ...] = Field(min_length=1)
    after_events: int | None = Field(None, ge=0)
    retry_after_s: int | None = Field(None, ge=0)
    flap_period_s: float | None = Field(None, gt=0)
    ttft_ms: float | None = Field(None, ge=0)

    @field_validator("mode")
    @classmethod
    def _known_mode(cls, mode: str) -> str:
        if mode not in FAULT_MODES:
            raise ValueError(f"must be one of {', '.join(FAULT_MODES)}")
        return mode

    def patch(self) -> dict[str, object]:
        """The control API's PATCH that sets it on a region."""
        patch: dict[str, object] = {"fault": self.mode}
        optional = {
            "fault_after_events": self.after_events,
            "retry_after_s": self.retry_after_s,
            "flap_period_s": self.flap_period_s,
            "fault_ttft_ms": self.ttft_ms,
        }
        patch.update({name: value for name, value in optional.items() if value is not None})
        return patch


class Phase(_Strict):
    name: str = Field(min_length=1)
    kind: RequestKind = "chat-json"
    # The open loop's rate, or a closed loop's clients: one of the two.
    rate_per_s: float | None = Field(None, gt=0)
    concurrency: int | None = Field(None, ge=1, le=MAX_CONCURRENCY)
    duration_s: float = Field(gt=0)
    warmup_s: float = Field(0.0, ge=0)
    # A number, or a distribution drawn per request ({dist: uniform|lognormal|choice, ...}).
    max_tokens: IntSpec = 16
    # The user message's size (0: "hi"), and an assistant prefill after it.
    prompt_bytes: IntSpec = 0
    prefill: str | None = None
    # The workload (`loadtest.generator.settings` documents each; docs/loadtest.md too).
    arrival: Arrival = "fixed"
    seed: int = Field(0, ge=0)
    stream_share: float | None = Field(None, ge=0, le=1)
    tenants: tuple[Tenant, ...] = ()
    cache: CacheMix | None = None
    pii_share: float = Field(0.0, ge=0, le=1)
    conversation: Conversation | None = None
    # A request still unanswered after this is a hang (an error of its own class).
    request_timeout_s: float = Field(30.0, gt=0)
    fault: Fault | None = None
    # Check the usage the answers reported against what the simulated cloud billed over the
    # phase (through its control API): Failover Bench's fallback accounting. A check, not a
    # fault: the faulted regions refuse in an existing mode (`unavailable`), and what is judged
    # is the accounting of the answers that failed over (`loadtest.harness.scorecard`).
    accounting: bool = False
    # The phase's model (e.g. the edge worker's, `smollm2-135m-instruct`); None: the target's.
    model: str | None = Field(None, min_length=1)
    # Something around the router broken for a while (`loadtest.harness.disruptions`): needs the
    # stack the suite starts (`run --stack`).
    disruption: Disruption | None = None

    @model_validator(mode="after")
    def _a_workload_the_generator_runs(self) -> Phase:
        """One loop, and a workload the generator accepts (its rules across fields)."""
        if (self.rate_per_s is None) == (self.concurrency is None):
            raise ValueError("give rate_per_s (open loop) or concurrency (closed loop), not both")
        LoadSettings(base_url="http://scenario.invalid/v1", **self.load_fields())
        if self.cache is not None and self.rate_per_s is not None:
            problem = mix_problem(self.rate_per_s * (self.warmup_s + self.duration_s), self.cache)
            if problem is not None:
                raise ValueError(problem)
        return self

    def load_fields(self) -> dict[str, Any]:
        """The generator's settings this phase states (`loadtest.generator.LoadSettings`)."""
        fields: dict[str, Any] = {
            "kind": self.kind,
            "duration_s": self.duration_s,
            "warmup_s": self.warmup_s,
            "max_tokens": self.max_tokens,
            "prompt_bytes": self.prompt_bytes,
            "prefill": self.prefill,
            "request_timeout_s": self.request_timeout_s,
            "concurrency": self.concurrency,
            "arrival": self.arrival,
            "seed": self.seed,
            "stream_share": self.stream_share,
            "tenants": self.tenants,
            "cache": self.cache,
            "pii_share": self.pii_share,
            "conversation": self.conversation,
        }
        if self.rate_per_s is not None:
            fields["rate_per_s"] = self.rate_per_s
        return fields

    @property
    def load(self) -> str:
        """The load, as `list` shows it: `200/s`, `200/s poisson` or `closed x8`."""
        if self.concurrency is not None:
            return f"closed x{self.concurrency}"
        arrival = "" if self.arrival == "fixed" else f" {self.arrival}"
        return f"{self.rate_per_s:g}/s{arrival}"


class Slo(_Strict):
    ttft_ms: float | None = Field(None, gt=0)
    tpot_ms: float | None = Field(None, gt=0)
    latency_ms: float | None = Field(None, gt=0)


class Smoke(_Strict):
    """Each phase shrunk to this for the test command: seconds, small counts."""

    rate_per_s: float = Field(20.0, gt=0)
    concurrency: int = Field(4, ge=1)  # a closed loop's clients
    duration_s: float = Field(0.5, gt=0)
    warmup_s: float = Field(0.0, ge=0)


class Scenario(_Strict):
    name: str = ""
    description: str = Field(min_length=1)
    slo: Slo = Slo()
    phases: tuple[Phase, ...] = Field(min_length=1)
    smoke: Smoke = Smoke()
    # A topology's name (`loadtest/network/topologies/`): the stack runs over the network test bed.
    network: str | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _fits_where_it_runs(self) -> Scenario:
        """Network disruptions only over a topology, on its links; over one, the regions its
        disruptions name are its own, and no fault mode or accounting check (each region's
        cloud has a control API of its own there, which `--control` cannot name)."""
        topology = self._topology()
        problems = []
        for index, phase in enumerate(self.phases):
            where = f"phases.{index}"
            if topology is not None and (phase.fault is not None or phase.accounting):
                problems.append(f"{where}: no fault or accounting over a network (`network:`)")
            problems += [f"{where}.disruption.{p}" for p in _disruption_problems(phase, topology)]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _topology(self) -> TopologyFile | None:
        if self.network is None:
            return None
        try:
            return load_topology(self.network)
        except TopologyInvalid as error:
            raise ValueError(f"network: {error}") from None

    def with_phase_duration(self, duration_s: float) -> Scenario:
        """The same phases, each lasting `duration_s` (a study's `--duration`)."""
        phases = tuple(p.model_copy(update={"duration_s": duration_s}) for p in self.phases)
        return self.model_copy(update={"phases": phases})

    def smoke_form(self) -> Scenario:
        """The same phases at the smoke rate and duration."""
        shrunk = tuple(
            phase.model_copy(
                update={
                    "rate_per_s": phase.rate_per_s and min(phase.rate_per_s, self.smoke.rate_per_s),
                    "concurrency": phase.concurrency
                    and min(phase.concurrency, self.smoke.concurrency),
                    "conversation": _shrunk(phase.conversation, self.smoke.duration_s),
                    "duration_s": self.smoke.duration_s,
                    "warmup_s": self.smoke.warmup_s,
                    # At the same share of the shorter phase.
                    "disruption": phase.disruption
                    and phase.disruption.scaled(
                        (self.smoke.warmup_s + self.smoke.duration_s)
                        / (phase.warmup_s + phase.duration_s)
                    ),
                }
            )
            for phase in self.phases
        )
        return self.model_copy(update={"phases": shrunk})


def _disruption_problems(phase: Phase, topology: TopologyFile | None) -> list[str]:
    disruption = phase.disruption
    if disruption is None:
        return []
    if topology is None:
        if disruption.kind in NETWORK_KINDS:
            return [f"kind: {disruption.kind} acts on a link: the scenario needs `network:`"]
        return []
    problems = []
    if disruption.link is not None:
        a, b = disruption.link
        joined = {frozenset((link.a, link.b)) for link in topology.links}
        if frozenset((a, b)) not in joined:
            problems.append(f"link: no link between {a} and {b} in topology {topology.name!r}")
    for region in disruption.regions:
        if region not in topology.regions:
            problems.append(f"regions: {region!r} is no region of topology {topology.name!r}")
    return problems


def _shrunk(conversation: Conversation | None, duration_s: float) -> Conversation | None:
    """A conversation whose turns fit in a smoke phase: its think time cut to a turn's share."""
    if conversation is None:
        return None
    think_s = min(conversation.think_s, duration_s / conversation.turns)
    return Conversation(conversation.turns, think_s)


class ScenarioInvalid(ValueError):
    pass


def scenario_names(directory: Path = SCENARIOS_DIR) -> list[str]:
    return names_in(directory)


def load_scenario(name_or_path: str, directory: Path = SCENARIOS_DIR) -> Scenario:
    """A scenario by its name (a file of `directory`) or by a path to its YAML file."""
    return load_named(name_or_path, directory, Scenario, ScenarioInvalid)
