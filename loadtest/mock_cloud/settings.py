"""Settings of the simulated cloud: frozen dataclasses, validated when built.

Validation lives in `__post_init__` so that every way of making settings (the YAML file, Python code
in tests, a control-API patch) goes through the same checks. Problems are collected, not raised one
at a time, so a broken file is fixed in one pass; the YAML loader adds file and line to each.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

DEFAULT_MODELS: Final = ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small")
# gpt-4o's output limit; also bounds the memory one request can make the mock allocate.
MAX_COMPLETION_TOKENS: Final = 16_384
MAX_DIMENSIONS: Final = 16_384
# Characters per streamed piece of an echo; more than any prompt the mock is sent in practice.
MAX_ECHO_PIECE_CHARS: Final = 1_000_000
ANSWER_KINDS: Final = ("text", "refusal", "content_filter", "tool_call", "tool_call_stop")
# The generation APIs a region can speak: Chat Completions, OpenAI Responses, Anthropic Messages.
API_NAMES: Final = ("chat", "responses", "messages")
# How many responses a region keeps for `previous_response_id` unless the settings say otherwise.
DEFAULT_RESPONSE_STORE_LIMIT: Final = 10_000
# Bounds the memory a region's prompt cache can hold (about 100 bytes a prefix).
MAX_PROMPT_CACHE_ENTRIES: Final = 10_000_000
# The fault modes a region can be put in (`RegionSettings.fault`): the provider faults of the
# Failover Bench catalogue, in its order. What each does is said at the field; `faults` does it.
FAULT_MODES: Final = (
    "rate_limit_once",
    "rate_limit",
    "error_once",
    "unavailable",
    "reset",
    "no_response",
    "slow_ttft",
    "stream_cut",
    "stall",
    "malformed_chunk",
    "missing_done",
    "context_length",
    "content_filter",
    "reject_prefill",
    "flapping",
)
# A day: longer than any client waits, and a bound on what a typo can make the header say.
MAX_RETRY_AFTER_S: Final = 86_400
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# libyaml's loader when PyYAML was built with it: about ten times faster than the pure one.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

PathPart = str | int


@dataclass(frozen=True, slots=True)
class Problem:
    path: tuple[PathPart, ...]
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in self.path).lstrip(".")
        line = f"line {self.line}: " if self.line is not None else ""
        return f"{line}{where or '<root>'}: {self.message}"


class SettingsError(ValueError):
    def __init__(self, problems: Sequence[Problem], source: str | None = None) -> None:
        self.problems = tuple(problems)
        self.source = source
        head = f"{source}: " if source else ""
        super().__init__(
            head + "invalid mock cloud settings:\n" + "\n".join(f"  {p}" for p in problems)
        )


def _number_problem(value: object, low: float, high: float) -> str | None:
    # bool is an int subclass; `rtt_ms: yes` is a typo, not 1 ms.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "must be a finite number"
    if not low <= value <= high:
        return (
            f"must be between {low:g} and {high:g}"
            if math.isfinite(high)
            else f"must be >= {low:g}"
        )
    return None


def _int_problem(value: object, low: int, high: int) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return "must be an integer"
    if not low <= value <= high:
        return f"must be between {low} and {high}"
    return None


def _bool_problem(value: object) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _host_problem(value: object) -> str | None:
    return None if isinstance(value, str) and value else "must be a non-empty string"


def _name_problem(value: object) -> str | None:
    if isinstance(value, str) and _NAME.fullmatch(value):
        return None
    return "must be letters, digits, '.', '_' or '-' (it is used in URLs)"


def _api_key_problem(value: object) -> str | None:
    if value is None or (isinstance(value, str) and value):
        return None
    return "must be a non-empty string or null"


def _answer_kind_problem(value: object) -> str | None:
    return None if value in ANSWER_KINDS else f"must be one of {', '.join(ANSWER_KINDS)}"


def _fault_problem(value: object) -> str | None:
    if value is None or value in FAULT_MODES:
        return None
    return f"must be null (no fault) or one of {', '.join(FAULT_MODES)}"


def _apis_problem(value: object) -> str | None:
    if (
        isinstance(value, tuple)
        and all(api in API_NAMES for api in value)
        and len(set(value)) == len(value)
    ):
        return None
    return f"must be a list of distinct APIs among {', '.join(API_NAMES)}"


def _models_problem(value: object) -> str | None:
    if isinstance(value, tuple) and value and all(isinstance(m, str) and m for m in value):
        return None
    return "must be a non-empty list of model names"


@dataclass(frozen=True, slots=True)
class RegionSettings:
    """One simulated region: where it listens and how it behaves."""

    name: str
    host: str = "127.0.0.1"
    port: int = 0
    rtt_ms: float = 0.0
    rtt_jitter: float = 0.0
    ttft_ms: float = 0.0
    tokens_per_s: float = 0.0
    error_rate: float = 0.0
    error_status: int = 500
    timeout_rate: float = 0.0
    api_key: str | None = None
    models: tuple[str, ...] = DEFAULT_MODELS
    completion_tokens: int = 16
    embedding_dimensions: int = 64
    # Answer chat and text completions with the request's own text (`parsing.echo_text`) instead
    # of `completion_tokens` of the lorem template, streamed `echo_piece_chars` characters per
    # event (one token each): a test sees what a router sent up, e.g. redacted, and how it
    # handles that text on the way back, e.g. restored across events.
    echo: bool = False
    echo_piece_chars: int = 4
    # What a chat answer is (`ANSWER_KINDS`): `text`, or one a cache must never replay, for its
    # tests: a `refusal` (`message.refusal`, finish `stop`), a `content_filter` stop, a
    # `tool_call` (finish `tool_calls`), or a `tool_call_stop` (a call with empty content and
    # finish `stop`, as OpenAI answers a forced `tool_choice`).
    answer_kind: str = "text"
    # The generation APIs the region speaks (`API_NAMES`): `chat` is POST /v1/chat/completions,
    # `responses` POST /v1/responses, `messages` POST /v1/messages and its count_tokens. The
    # others answer 404 in their API's own error shape, as from a provider that lacks them; text
    # completions, embeddings and models are always served.
    apis: tuple[str, ...] = API_NAMES
    # Streams that fail in band: the answer starts (200, headers sent) and then, in place of the
    # content event numbered `inband_error_after_events` (0: before any content), carries an
    # error in the API's own in-band form, of the kind `error_status` names, and ends.
    inband_error_rate: float = 0.0
    inband_error_after_events: int = 0
    # The provider's prompt cache (`prompt_cache`): a chat, Responses or Messages prompt that
    # starts with a prefix this region served within `prompt_cache_ttl_s` is billed with that
    # prefix's tokens as cached (rounded down to 128; none under `prompt_cache_min_tokens`, as
    # OpenAI does), and its time to first token is `ttft_ms` less `prompt_cache_ttft_saving` of it
    # times the cached share of the prompt. At most `prompt_cache_entries` prefixes are kept.
    prompt_cache: bool = True
    prompt_cache_ttl_s: float = 300.0
    prompt_cache_min_tokens: int = 1024
    prompt_cache_entries: int = 100_000
    prompt_cache_ttft_saving: float = 0.8
    # The fault mode the region is in (`FAULT_MODES`), or None for none. A fault acts on the
    # generation requests of the APIs the region speaks (POST /v1/chat/completions, /v1/responses,
    # /v1/messages) that it would otherwise answer (a known API, a valid key), in each API's own
    # error shape (`errors`); other paths (models, embeddings, text completions, count_tokens)
    # are served as usual, so a health probe neither sees a fault nor uses up a "once" one. Each
    # request a fault acts on counts in the region's `faults_injected`.
    #   rate_limit_once  the next request: 429, `Retry-After: retry_after_s`, the API's
    #                    rate-limit body; later ones are served.
    #   rate_limit       every request: that 429.
    #   error_once       the next request: 500 with the API's server-error body; later ones served.
    #   unavailable      every request: 503.
    #   reset            the connection is reset (a TCP RST, no HTTP response at all).
    #   no_response      the request is read and never answered, as `timeout_rate: 1` does.
    #   slow_ttft        nothing at all (not even the status line) for `fault_ttft_ms`, then the
    #                    answer as usual; its own setting rather than `ttft_ms`, which the prompt
    #                    cache shortens and a stream waits with its headers already sent.
    #   stream_cut       a stream stops after `fault_after_events` content events and the
    #                    connection is closed mid-body: no terminal event, no `[DONE]`.
    #   stall            a stream stops after `fault_after_events` content events and sends
    #                    nothing more, the connection held open until the client leaves.
    #   malformed_chunk  after `fault_after_events` content events, one extra event whose data is
    #                    not valid JSON (an event cut short), then the stream goes on to its usual
    #                    end: the fault is the bad event alone, so a client that skips it still
    #                    gets the whole answer, and one that fails on it is told apart from a cut.
    #   missing_done     a stream ends cleanly (finish reason and usage sent, the body ended, the
    #                    connection closed) without its end event: no `data: [DONE]` (chat), no
    #                    `response.completed`/`.incomplete` (Responses), no `message_stop`
    #                    (Messages).
    #   context_length   every request: 400, OpenAI's `context_length_exceeded`
    #                    (`invalid_request_error`) or Anthropic's "prompt is too long".
    #   content_filter   the answer ends as `answer_kind: content_filter` makes it: finish reason
    #                    `content_filter` (chat), `incomplete` for `content_filter` (Responses),
    #                    stop reason `refusal` (Messages, which has no filter stop of its own).
    #   reject_prefill   a request whose last message is the assistant's (a prefill): 400, as from
    #                    a provider without prefill; other requests are served.
    #   flapping         healthy and `unavailable` by turns, each `flap_period_s` of the region's
    #                    clock, starting healthy when the fault is set.
    # Stream faults (stream_cut, stall, malformed_chunk, missing_done) act on streamed answers;
    # a JSON answer is served whole and not counted, and no in-band error is drawn while one is
    # set. "Once" faults are per region and re-armed, and flapping restarts healthy, whenever a
    # patch names `fault` (the same mode again, or null).
    fault: str | None = None
    fault_after_events: int = 3
    retry_after_s: int = 1
    flap_period_s: float = 2.0
    fault_ttft_ms: float = 10_000.0

    def __post_init__(self) -> None:
        problems = [Problem((name,), message) for name, message in self._problems()]
        if problems:
            raise SettingsError(problems)

    def _problems(self) -> list[tuple[str, str]]:
        inf = math.inf
        checks = [
            ("name", _name_problem(self.name)),
            ("host", _host_problem(self.host)),
            ("port", _int_problem(self.port, 0, 65_535)),
            ("rtt_ms", _number_problem(self.rtt_ms, 0, inf)),
            ("rtt_jitter", _number_problem(self.rtt_jitter, 0, 5)),
            ("ttft_ms", _number_problem(self.ttft_ms, 0, inf)),
            ("tokens_per_s", _number_problem(self.tokens_per_s, 0, inf)),
            ("error_rate", _number_problem(self.error_rate, 0, 1)),
            ("error_status", _int_problem(self.error_status, 400, 599)),
            ("timeout_rate", _number_problem(self.timeout_rate, 0, 1)),
            ("api_key", _api_key_problem(self.api_key)),
            ("models", _models_problem(self.models)),
            ("completion_tokens", _int_problem(self.completion_tokens, 1, MAX_COMPLETION_TOKENS)),
            ("embedding_dimensions", _int_problem(self.embedding_dimensions, 1, MAX_DIMENSIONS)),
            ("echo", _bool_problem(self.echo)),
            ("echo_piece_chars", _int_problem(self.echo_piece_chars, 1, MAX_ECHO_PIECE_CHARS)),
            ("answer_kind", _answer_kind_problem(self.answer_kind)),
            ("apis", _apis_problem(self.apis)),
            ("inband_error_rate", _number_problem(self.inband_error_rate, 0, 1)),
            (
                "inband_error_after_events",
                _int_problem(self.inband_error_after_events, 0, MAX_COMPLETION_TOKENS),
            ),
            ("prompt_cache", _bool_problem(self.prompt_cache)),
            ("prompt_cache_ttl_s", _number_problem(self.prompt_cache_ttl_s, 0, inf)),
            ("prompt_cache_min_tokens", _int_problem(self.prompt_cache_min_tokens, 0, 10**7)),
            (
                "prompt_cache_entries",
                _int_problem(self.prompt_cache_entries, 0, MAX_PROMPT_CACHE_ENTRIES),
            ),
            ("prompt_cache_ttft_saving", _number_problem(self.prompt_cache_ttft_saving, 0, 1)),
            ("fault", _fault_problem(self.fault)),
            (
                "fault_after_events",
                _int_problem(self.fault_after_events, 0, MAX_COMPLETION_TOKENS),
            ),
            ("retry_after_s", _int_problem(self.retry_after_s, 0, MAX_RETRY_AFTER_S)),
            ("flap_period_s", _number_problem(self.flap_period_s, 0.001, inf)),
            ("fault_ttft_ms", _number_problem(self.fault_ttft_ms, 0, inf)),
        ]
        return [(name, message) for name, message in checks if message is not None]


# Fields a running region can change; where it listens is fixed once it has started.
PATCHABLE_FIELDS: Final = frozenset(f.name for f in dataclasses.fields(RegionSettings)) - {
    "name",
    "host",
    "port",
}


@dataclass(frozen=True, slots=True)
class ControlSettings:
    host: str = "127.0.0.1"
    port: int = 0

    def __post_init__(self) -> None:
        checks = [("host", _host_problem(self.host)), ("port", _int_problem(self.port, 0, 65_535))]
        problems = [Problem((name,), message) for name, message in checks if message]
        if problems:
            raise SettingsError(problems)


@dataclass(frozen=True, slots=True)
class CloudSettings:
    regions: tuple[RegionSettings, ...]
    control: ControlSettings = field(default_factory=ControlSettings)
    # How many received requests each region keeps for `GET /control/regions/{name}/requests`.
    record_limit: int = 200
    # How many stored responses (`store: true`) each region keeps for `previous_response_id`,
    # the oldest dropped first.
    response_store_limit: int = DEFAULT_RESPONSE_STORE_LIMIT

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        if not self.regions:
            problems.append(Problem(("regions",), "must list at least one region"))
        names = [r.name for r in self.regions]
        for i, name in enumerate(names):
            if name in names[:i]:
                problems.append(Problem(("regions", i, "name"), f"duplicate region name {name!r}"))
        fixed_ports = [(("control", "port"), self.control.port)] + [
            (("regions", i, "port"), r.port) for i, r in enumerate(self.regions)
        ]
        seen: set[int] = set()
        for path, port in fixed_ports:
            if port and port in seen:
                problems.append(Problem(path, f"port {port} is used twice"))
            seen.add(port)
        if message := _int_problem(self.record_limit, 0, 1_000_000):
            problems.append(Problem(("record_limit",), message))
        if message := _int_problem(self.response_store_limit, 0, 10_000_000):
            problems.append(Problem(("response_store_limit",), message))
        if problems:
            raise SettingsError(problems)


def _dataclass_from_mapping(
    cls: type[Any], data: object, path: tuple[PathPart, ...], problems: list[Problem]
) -> Any:
    """Build `cls` from parsed YAML/JSON, adding every problem under `path`; None if invalid."""
    if not isinstance(data, Mapping):
        problems.append(Problem(path, "must be a mapping"))
        return None
    fields = dataclasses.fields(cls)
    known = {f.name for f in fields}
    before = len(problems)
    problems.extend(Problem((*path, str(key)), "unknown field") for key in data if key not in known)
    problems.extend(
        Problem((*path, f.name), "is required")
        for f in fields
        if f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
        and f.name not in data
    )
    if len(problems) > before:
        return None
    try:
        return cls(**_field_values(data))
    except SettingsError as exc:
        problems.extend(Problem((*path, *p.path), p.message) for p in exc.problems)
    return None


def cloud_settings_from_mapping(data: object) -> CloudSettings:
    """Validate parsed YAML/JSON into settings, raising one SettingsError with every problem."""
    if not isinstance(data, Mapping):
        raise SettingsError([Problem((), "the document must be a mapping")])
    problems = [
        Problem((str(key),), "unknown field")
        for key in data
        if key not in ("control", "regions", "record_limit", "response_store_limit")
    ]
    control = _dataclass_from_mapping(
        ControlSettings, data.get("control", {}), ("control",), problems
    )
    raw_regions = data.get("regions")
    if not isinstance(raw_regions, list):
        problems.append(Problem(("regions",), "must be a list of regions"))
        raw_regions = []
    regions = [
        _dataclass_from_mapping(RegionSettings, raw, ("regions", i), problems)
        for i, raw in enumerate(raw_regions)
    ]
    if problems:
        raise SettingsError(problems)
    return CloudSettings(
        regions=tuple(regions),
        control=control,
        record_limit=data.get("record_limit", 200),
        response_store_limit=data.get("response_store_limit", DEFAULT_RESPONSE_STORE_LIMIT),
    )


def load_cloud_settings(path: Path) -> CloudSettings:
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise SettingsError([Problem((), f"not valid YAML: {exc}")], str(path)) from None
    try:
        return cloud_settings_from_mapping(data)
    except SettingsError as exc:
        root = yaml.compose(text, Loader=_Loader)
        located = [dataclasses.replace(p, line=_line_of(root, p.path)) for p in exc.problems]
        raise SettingsError(located, str(path)) from None


def patched_region_settings(
    settings: RegionSettings, patch: object
) -> tuple[RegionSettings, bool | None]:
    """Apply a control-API patch: the new settings and the requested `down` state (None: keep)."""
    if not isinstance(patch, Mapping):
        raise SettingsError([Problem((), "the patch must be a JSON object")])
    problems: list[Problem] = []
    down = patch.get("down")
    if down is not None and not isinstance(down, bool):
        problems.append(Problem(("down",), "must be true or false"))
    for key in patch:
        if key not in PATCHABLE_FIELDS and key != "down":
            fixed = key in ("name", "host", "port")
            problems.append(
                Problem((str(key),), "cannot change while running" if fixed else "unknown field")
            )
    changes = _field_values({k: v for k, v in patch.items() if k in PATCHABLE_FIELDS})
    try:
        patched = dataclasses.replace(settings, **changes)
    except SettingsError as exc:
        problems.extend(exc.problems)
    if problems:
        raise SettingsError(problems)
    return patched, down


def _field_values(data: Mapping[str, object]) -> dict[str, Any]:
    # YAML and JSON have lists where the frozen settings hold tuples.
    return {key: tuple(v) if isinstance(v, list) else v for key, v in data.items()}


def _line_of(node: yaml.Node | None, path: tuple[PathPart, ...]) -> int | None:
    """1-based line of the deepest node on `path` that the YAML document has."""
    line = None
    for part in path:
        if node is None:
            break
        line = node.start_mark.line + 1
        node = _child(node, part)
    return node.start_mark.line + 1 if node is not None else line


def _child(node: yaml.Node, part: PathPart) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        return next((value for key, value in node.value if key.value == part), None)
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        child: yaml.Node = node.value[part]
        return child
    return None
