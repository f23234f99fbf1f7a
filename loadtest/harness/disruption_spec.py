"""A phase's `disruption:` as the scenario file states it, validated: its kind, when it starts and
ends, and each kind's own fields (`loadtest.harness.disruptions` says what each kind does, and
applies it on schedule). The network kinds, `partition` and `link`, act on a link of the network
test bed, so only in a scenario that names a topology (`network:`), which checks the link is
one of its own."""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DisruptionKind = Literal[
    "region_loss", "brownout", "redis_loss", "reload_storm", "worker_crash", "partition", "link"
]
# The kinds that act on a link of the network test bed.
NETWORK_KINDS: Final = frozenset({"partition", "link"})
_SHAPE_FIELDS: Final = ("delay_ms", "jitter_ms", "loss")
# The fields each kind takes besides `kind`, `at_s` and `for_s`.
_OWN_FIELDS: Final[dict[str, frozenset[str]]] = {
    "region_loss": frozenset({"regions"}),
    "brownout": frozenset({"regions", "ttft_ms"}),
    "redis_loss": frozenset({"mode"}),
    "reload_storm": frozenset({"writes_per_s", "style"}),
    "worker_crash": frozenset(),
    "partition": frozenset({"link"}),
    "link": frozenset({"link", *_SHAPE_FIELDS}),
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
    # The two hosts a link of the topology joins, in either order (`partition`, `link`).
    link: tuple[str, str] | None = None
    # What `link` changes for the window, both ways; what it does not name stays as it was.
    delay_ms: float | None = Field(None, ge=0, le=10_000)
    jitter_ms: float | None = Field(None, ge=0, le=10_000)
    loss: float | None = Field(None, ge=0, le=1)

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
        if "link" in own and (self.link is None or self.link[0] == self.link[1]):
            raise ValueError(f"link: {self.kind} needs the two hosts of a link, [pop, us-east]")
        if self.kind == "link" and not self.shape():
            raise ValueError(f"link: give at least one of {', '.join(_SHAPE_FIELDS)}")
        return self

    def shape(self) -> dict[str, float]:
        """What a `link` disruption sets on its link (`TestBed.shape`'s keywords)."""
        fields = {name: getattr(self, name) for name in _SHAPE_FIELDS}
        return {name: value for name, value in fields.items() if value is not None}

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
