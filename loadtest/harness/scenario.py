"""A scenario: a named workload in phases, the SLOs its goodput is judged by, and its smoke form.

A scenario is a YAML file in `loadtest/scenarios/` (the file's name is the scenario's):

    description: One line on what it measures.
    slo: {ttft_ms: 500, tpot_ms: 50, latency_ms: 2000}   # optional; goodput's objectives
    phases:                                              # run in order, each open loop
      - {name: warm, kind: chat-stream, rate_per_s: 50, duration_s: 10, warmup_s: 2}
      - {name: peak, kind: chat-stream, rate_per_s: 200, duration_s: 30, max_tokens: 64}
    smoke: {rate_per_s: 20, duration_s: 0.5}             # what `--smoke` shrinks each phase to

A ramp is phases at rising rates. A phase may put regions of the simulated cloud in one of its
fault modes for its duration (`fault: {mode: stream_cut, regions: [us-east, ap-south]}`: the
public fault catalogue, `loadtest.mock_cloud.settings.FAULT_MODES`), through the cloud's control
API (`--control`); its result is then judged on the scorecard (`loadtest.harness.scorecard`).
Unknown keys are refused, naming the file and the field, so a typo never runs a different
workload than the one written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from loadtest.mock_cloud.settings import FAULT_MODES

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
    kind: Literal["chat-json", "chat-stream"] = "chat-json"
    rate_per_s: float = Field(gt=0)
    duration_s: float = Field(gt=0)
    warmup_s: float = Field(0.0, ge=0)
    max_tokens: int = Field(16, ge=1)
    # The user message's size (0: "hi"), and an assistant prefill after it.
    prompt_bytes: int = Field(0, ge=0, le=10_000_000)
    prefill: str | None = None
    # A request still unanswered after this is a hang (an error of its own class).
    request_timeout_s: float = Field(30.0, gt=0)
    fault: Fault | None = None


class Slo(_Strict):
    ttft_ms: float | None = Field(None, gt=0)
    tpot_ms: float | None = Field(None, gt=0)
    latency_ms: float | None = Field(None, gt=0)


class Smoke(_Strict):
    """Each phase shrunk to this for the test command: seconds, small counts."""

    rate_per_s: float = Field(20.0, gt=0)
    duration_s: float = Field(0.5, gt=0)
    warmup_s: float = Field(0.0, ge=0)


class Scenario(_Strict):
    name: str = ""
    description: str = Field(min_length=1)
    slo: Slo = Slo()
    phases: tuple[Phase, ...] = Field(min_length=1)
    smoke: Smoke = Smoke()

    def smoke_form(self) -> Scenario:
        """The same phases at the smoke rate and duration."""
        shrunk = tuple(
            phase.model_copy(
                update={
                    "rate_per_s": min(phase.rate_per_s, self.smoke.rate_per_s),
                    "duration_s": self.smoke.duration_s,
                    "warmup_s": self.smoke.warmup_s,
                }
            )
            for phase in self.phases
        )
        return self.model_copy(update={"phases": shrunk})


class ScenarioInvalid(ValueError):
    pass


def scenario_names(directory: Path = SCENARIOS_DIR) -> list[str]:
    return sorted(path.stem for path in directory.glob("*.yaml"))


def load_scenario(name_or_path: str, directory: Path = SCENARIOS_DIR) -> Scenario:
    """A scenario by its name (a file of `directory`) or by a path to its YAML file."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = directory / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(scenario_names(directory))
        raise ScenarioInvalid(f"no scenario {name_or_path!r} (known: {known})")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ScenarioInvalid(f"{path}: not YAML: {error}") from None
    if not isinstance(data, dict):
        raise ScenarioInvalid(f"{path}: a scenario is a mapping")
    try:
        return Scenario.model_validate({**data, "name": path.stem})
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise ScenarioInvalid(f"{path}: {problems}") from None
