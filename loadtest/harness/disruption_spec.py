"""A phase's `disruption:` as the scenario file states it, validated: its kind, when it starts and
ends, and each kind's own fields (`loadtest.harness.disruptions` says what each kind does, and
applies it on schedule)."""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DisruptionKind = Literal["region_loss", "brownout", "redis_loss", "reload_storm", "worker_crash"]
# The fields each kind takes besides `kind`, `at_s` and `for_s`.
_OWN_FIELDS: Final[dict[str, frozenset[str]]] = {
    "region_loss": frozenset({"regions"}),
    "brownout": frozenset({"regions", "ttft_ms"}),
    "redis_loss": frozenset({"mode"}),
    "reload_storm": frozenset({"writes_per_s", "style"}),
    "worker_crash": frozenset(),
}


class Disruption(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: DisruptionKind
    at_s: float = Field(2.0, ge=0)
    # Undone this long after it was applied; None: at the phase's end.
    for_s: float | None = Field(None, gt=0)
    regions: tuple[str, ...] = ()
    ttft_ms: float = Field(4000.0, gt=0)
    mode: Literal["stop", "kill"] = "stop"
    writes_per_s: float = Field(20.0, gt=0, le=500)
    style: Literal["editor", "kubernetes"] = "editor"

    @model_validator(mode="after")
    def _fields_fit_the_kind(self) -> Disruption:
        own = _OWN_FIELDS[self.kind]
        stray = sorted(self.model_fields_set - {"kind", "at_s", "for_s"} - own)
        if stray:
            fields = ", ".join(sorted(own)) or "none"
            raise ValueError(f"{', '.join(stray)}: not a field of {self.kind} (its own: {fields})")
        if "regions" in own and not self.regions:
            raise ValueError(f"regions: {self.kind} needs at least one region")
        if self.kind == "worker_crash" and self.for_s is not None:
            raise ValueError("for_s: the router restarts its worker itself; a crash has no for_s")
        return self

    def scaled(self, ratio: float) -> Disruption:
        """The same disruption on a phase `ratio` times as long (the smoke form)."""
        for_s = None if self.for_s is None else self.for_s * ratio
        return self.model_copy(update={"at_s": self.at_s * ratio, "for_s": for_s})


def phase_problems(disruption: Disruption, phase_s: float) -> list[str]:
    """What makes a disruption impossible within a phase of `phase_s` seconds."""
    problems = []
    if disruption.at_s >= phase_s:
        problems.append(f"at_s {disruption.at_s:g} is past the phase's {phase_s:g} s")
    elif disruption.for_s is not None and disruption.at_s + disruption.for_s > phase_s:
        problems.append(f"at_s + for_s ends past the phase's {phase_s:g} s")
    return problems
