"""Property-based fuzzing of request bodies sent to a running router over real sockets.

The simulated cloud is healthy throughout, so the router must never answer 5xx: a body it accepts
is served (200), a body it refuses gets a 4xx with an OpenAI error body, and so does a body the
upstream refuses. Bodies are arbitrary bytes, arbitrary JSON values, valid requests with one field
mutated (wrong type or range, deleted, unknown field added, nested past the parser's depth limit),
and spec-valid requests, which the router itself must never refuse.

How it runs: hypothesis calls synchronous test functions, so the stack runs on its own event loop
in a background thread, started once for the module, and each example is one blocking request from
an httpx client. An example costs a few milliseconds, shrinking replays single requests, and
hypothesis never shares an event loop with the servers. (A stack per example would cost about 50 ms
each, shrinking included.) The regions answer with no simulated latency, for speed.
"""

from __future__ import annotations

import asyncio
import copy
import json
import queue
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2 as httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadtest.mock_cloud.settings import RegionSettings
from tests.openapi_schemas import validate
from tests.stack import API_KEY, DEFAULT_REGIONS, running_stack

CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
EMBEDDINGS = "/v1/embeddings"
PATHS = (CHAT, COMPLETIONS, EMBEDDINGS)
REQUEST_SCHEMAS = {
    CHAT: "CreateChatCompletionRequest",
    COMPLETIONS: "CreateCompletionRequest",
    EMBEDDINGS: "CreateEmbeddingRequest",
}
ERROR_FIELDS = {"message", "type", "param", "code"}
# Drawing the large and deeply nested values can trip the too-slow check; the requests are fast.
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@contextmanager
def stack_in_background_thread() -> Iterator[str]:
    """The base URL of a router and cloud served by an event loop in another thread."""
    started: queue.Queue[tuple[str, asyncio.AbstractEventLoop, asyncio.Event] | BaseException]
    started = queue.Queue()
    regions = tuple(RegionSettings(name=region.name) for region in DEFAULT_REGIONS)

    async def serve() -> None:
        stop = asyncio.Event()
        # Every region may take personal data: random text holds some ("x_fuzz_0.0.0.0" is an
        # address), and what the router does with it is tested in tests/privacy; here a body
        # must be served or refused as a client error, whatever it holds.
        pii_everywhere = {region.name: {"tags": ["pii"]} for region in regions}
        async with running_stack(regions=regions, endpoint_fields=pii_everywhere) as stack:
            started.put((stack.url, asyncio.get_running_loop(), stop))
            await stop.wait()

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:
            started.put(exc)

    thread = threading.Thread(target=run, name="fuzzed-stack", daemon=True)
    thread.start()
    first = started.get(timeout=30)
    if isinstance(first, BaseException):
        raise first
    url, loop, stop = first
    try:
        yield url
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
        leftover = None if started.empty() else started.get()
        if isinstance(leftover, BaseException):
            raise leftover


@pytest.fixture(scope="module")
def router() -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with (
        stack_in_background_thread() as url,
        httpx.Client(base_url=url, headers=headers, timeout=10.0) as client,
    ):
        yield client


def send(router: httpx.Client, path: str, body: bytes) -> httpx.Response:
    return router.post(path, content=body, headers={"Content-Type": "application/json"})


def assert_served_or_refused(response: httpx.Response, sent: bytes) -> None:
    """200 with a complete answer, or a 4xx with exactly OpenAI's error body."""
    status = response.status_code
    assert status < 500, f"{status} for {sent[:500]!r}: {response.text[:1000]}"
    if status == 200:
        assert_complete_answer(response)
        return
    assert 400 <= status < 500, status
    assert response.headers["content-type"].startswith("application/json")
    error = orjson.loads(response.content)
    assert set(error) == {"error"} and set(error["error"]) == ERROR_FIELDS, error
    validate("ErrorResponse", error)


def assert_complete_answer(response: httpx.Response) -> None:
    if not response.headers["content-type"].startswith("text/event-stream"):
        answer = orjson.loads(response.content)
        assert answer["object"] in ("chat.completion", "text_completion", "list"), answer
        return
    payloads = [
        line[5:].strip() for line in response.content.split(b"\n") if line.startswith(b"data:")
    ]
    assert payloads[-1] == b"[DONE]", payloads[-3:]
    for payload in payloads[:-1]:
        assert "error" not in orjson.loads(payload), payload


def assert_still_serving(router: httpx.Client) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "still there?"}]}
    response = router.post(CHAT, json=body)
    assert response.status_code == 200, response.text


# Text with surrogates. A lone one makes the body invalid whether json.dumps escapes it (\ud800)
# or writes it raw (bytes that are not UTF-8); an escaped pair is a valid astral character.
any_text = st.text(st.one_of(st.characters(), st.characters(categories=["Cs"])), max_size=24)
EDGE_NUMBERS = (
    *(0, -1, 1, 2, 4, 5, 20, 21, 128, 129, 16_384, 16_385, 2**31, 2**53 + 1, 2**63 - 1, 2**63),
    *(2**64 - 1, 2**64, -(2**63) - 1, 10**400, -(10**400)),
    *(0.5, -0.0, 1e-300, 5e-324, 2.0000001, 1e308, -1e308),
    *(float("nan"), float("inf"), float("-inf")),  # json.dumps writes NaN / Infinity
)
EDGE_STRINGS = (
    *("NaN", "nan", "Infinity", "-Infinity", "1e999", "0x10", "1_000", "", " ", "null", "true"),
    *("\x00", "\ufeff", "\u202e", "e\u0301", "😀" * 64, "a" * 70_000),
    *("gpt-4o-mini", "text-embedding-3-small", "user", "assistant", "tool", "float", "base64"),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(),
    any_text,
    st.sampled_from(EDGE_NUMBERS),
    st.sampled_from(EDGE_STRINGS),
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4)
    ),
    max_leaves=12,
)

# Nesting too deep for json.dumps (and, past 1024 levels, for orjson) is spliced into the encoded
# text where a marker string stands.
_DEEP = re.compile(r'"\\u0000deep:(list|object):(\d+)\\u0000"')
deeply_nested = st.builds(
    "\x00deep:{}:{}\x00".format,
    st.sampled_from(["list", "object"]),
    st.one_of(st.integers(1, 1100), st.sampled_from([1023, 1024, 1025, 100_000])),
)


def _nested(match: re.Match[str]) -> str:
    depth = int(match[2])
    if match[1] == "list":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def encode(value: object, ensure_ascii: bool) -> bytes:
    text = _DEEP.sub(_nested, json.dumps(value, ensure_ascii=ensure_ascii))
    return text.encode("utf-8", "surrogatepass")


# Within the OpenAI spec and within what the simulator serves (n, token counts and sizes kept small
# so that an example stays a few milliseconds). Text has no lone surrogates: it must be UTF-8.
text = st.text(max_size=24)
word = st.text(min_size=1, max_size=12)
tokens = st.lists(st.integers(0, 100_000), min_size=1, max_size=8)
int64 = st.integers(-(2**63), 2**63 - 1)
stop = st.none() | text | st.lists(text, min_size=1, max_size=4)
content_parts = st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": text}), min_size=1)
message = st.one_of(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["system", "developer", "user"]), "content": text | content_parts},
        optional={"name": word},
    ),
    st.fixed_dictionaries({"role": st.just("assistant"), "content": text}),
    st.fixed_dictionaries(
        {"role": st.just("tool"), "content": text, "tool_call_id": st.just("call_1")}
    ),
)
sampling = {
    "temperature": st.none() | st.floats(0, 2),
    "top_p": st.none() | st.floats(0, 1),
    "presence_penalty": st.floats(-2, 2),
    "frequency_penalty": st.floats(-2, 2),
    "n": st.integers(1, 3),
    "seed": int64,
    "stop": stop,
    "user": text,
    "logit_bias": st.dictionaries(st.integers(0, 100_000).map(str), st.integers(-100, 100)),
}
chat_bodies = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["gpt-4o-mini", "gpt-4o"]),
        "messages": st.lists(message, min_size=1, max_size=3),
    },
    optional={
        **sampling,
        # The spec gives no minimum, but the API refuses 0 for chat (and so does the router).
        "max_tokens": st.integers(1, 48),
        "max_completion_tokens": st.integers(1, 48),
        "logprobs": st.booleans(),
        "top_logprobs": st.integers(0, 20),
        "tools": st.just([]),
        "parallel_tool_calls": st.booleans(),
    },
)
completion_bodies = st.fixed_dictionaries(
    {
        "model": st.just("gpt-4o-mini"),
        # The spec allows an empty array of strings; the simulator, like the API, does not.
        "prompt": text
        | st.lists(text, min_size=1, max_size=3)
        | tokens
        | st.lists(tokens, min_size=1),
    },
    optional={
        **sampling,
        # 0 is valid here: with `echo` it scores a prompt without generating.
        "max_tokens": st.integers(0, 48),
        "best_of": st.integers(0, 20),
        "logprobs": st.integers(0, 5),
        "echo": st.booleans(),
        "suffix": st.none() | text,
    },
)
embedding_bodies = st.fixed_dictionaries(
    {
        "model": st.just("text-embedding-3-small"),
        # The API refuses empty strings although the spec does not say so.
        "input": word
        | st.lists(word, min_size=1, max_size=4)
        | tokens
        | st.lists(tokens, min_size=1),
    },
    optional={
        "encoding_format": st.sampled_from(["float", "base64"]),
        "dimensions": st.integers(1, 256),
        "user": text,
    },
)
VALID_BODIES: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    CHAT: chat_bodies,
    COMPLETIONS: completion_bodies,
    EMBEDDINGS: embedding_bodies,
}


@st.composite
def valid_requests(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    path = draw(st.sampled_from(PATHS))
    body = draw(VALID_BODIES[path])
    if path != EMBEDDINGS and draw(st.booleans()):
        body["stream"] = True
        if draw(st.booleans()):
            body["stream_options"] = {"include_usage": draw(st.booleans())}
    return path, body


# Hand-written valid bodies that the mutations start from: every field the router checks.
SEED_BODIES: dict[str, list[dict[str, Any]]] = {
    CHAT: [
        {
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            ],
            "max_tokens": 4,
            "temperature": 0.5,
            "top_p": 1,
            "n": 2,
            "stop": ["\n"],
            "user": "u-1",
            "logprobs": True,
            "top_logprobs": 2,
            "tools": [],
        },
        {
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_completion_tokens": 3,
            "seed": 1,
        },
    ],
    COMPLETIONS: [
        {
            "model": "gpt-4o-mini",
            "prompt": ["a", "b"],
            "max_tokens": 3,
            "best_of": 2,
            "logprobs": 1,
            "presence_penalty": 0.1,
            "frequency_penalty": -0.1,
        },
        {"model": "gpt-4o-mini", "prompt": [[1, 2], [3]], "stream": True, "stop": "x"},
    ],
    EMBEDDINGS: [
        {"model": "text-embedding-3-small", "input": ["a", "b"], "encoding_format": "base64"},
        {"model": "text-embedding-3-small", "input": [1, 2, 3], "dimensions": 8},
    ],
}


def _slots(node: Any) -> Iterator[tuple[dict[str, Any] | list[Any], str | int]]:
    """Every (container, key) of a JSON document, depth first."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, child in items:
        yield node, key
        if isinstance(child, dict | list):
            yield from _slots(child)


def _objects(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for child in children:
        yield from _objects(child)


@st.composite
def almost_valid_requests(draw: st.DrawFn) -> tuple[str, bytes]:
    """A seed body with one change: a value replaced or nested deeply, a field dropped or added."""
    path = draw(st.sampled_from(PATHS))
    body = copy.deepcopy(draw(st.sampled_from(SEED_BODIES[path])))
    change = draw(st.sampled_from(["replace", "nest", "delete", "add"]))
    if change == "add":
        target = draw(st.sampled_from(list(_objects(body))))
        target[draw(any_text)] = draw(json_values)
    else:
        container, key = draw(st.sampled_from(list(_slots(body))))
        if change == "delete":
            del container[key]
        else:
            value = draw(json_values if change == "replace" else deeply_nested)
            container[key] = value
    return path, encode(body, ensure_ascii=draw(st.booleans()))


def test_seed_bodies_match_the_openai_request_schemas() -> None:
    for path, bodies in SEED_BODIES.items():
        for body in bodies:
            validate(REQUEST_SCHEMAS[path], body)


def test_arbitrary_bytes_get_an_openai_4xx_never_a_5xx(router: httpx.Client) -> None:
    @settings(FUZZ, max_examples=200)
    @given(path=st.sampled_from(PATHS), body=st.binary(max_size=512))
    def check(path: str, body: bytes) -> None:
        assert_served_or_refused(send(router, path, body), body)

    check()
    assert_still_serving(router)


def test_arbitrary_json_values_get_an_openai_4xx_never_a_5xx(router: httpx.Client) -> None:
    @settings(FUZZ, max_examples=300)
    @given(
        path=st.sampled_from(PATHS),
        value=json_values | deeply_nested,
        ensure_ascii=st.booleans(),
    )
    def check(path: str, value: object, ensure_ascii: bool) -> None:
        body = encode(value, ensure_ascii)
        assert_served_or_refused(send(router, path, body), body)

    check()
    assert_still_serving(router)


def test_almost_valid_bodies_are_served_or_refused_with_a_4xx_never_a_5xx(
    router: httpx.Client,
) -> None:
    @settings(FUZZ, max_examples=700)
    @given(request=almost_valid_requests())
    def check(request: tuple[str, bytes]) -> None:
        path, body = request
        assert_served_or_refused(send(router, path, body), body)

    check()
    assert_still_serving(router)


def test_valid_bodies_with_unknown_fields_are_never_refused_by_the_router(
    router: httpx.Client,
) -> None:
    @settings(FUZZ, max_examples=300)
    @given(
        request=valid_requests(),
        extra=st.dictionaries(
            word.map("x_fuzz_{}".format),
            st.recursive(
                st.none()
                | st.booleans()
                | int64
                | st.floats(allow_nan=False, allow_infinity=False)
                | text,
                lambda children: (
                    st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3)
                ),
                max_leaves=6,
            ),
            max_size=2,
        ),
    )
    def check(request: tuple[str, dict[str, Any]], extra: dict[str, Any]) -> None:
        path, body = request
        validate(REQUEST_SCHEMAS[path], body)
        if path != EMBEDDINGS:  # the embeddings schema forbids unknown fields
            body = {**body, **extra}
        sent = orjson.dumps(body)
        response = send(router, path, sent)
        assert_served_or_refused(response, sent)
        if path == COMPLETIONS and body.get("max_tokens") == 0:
            # The simulator, unlike OpenAI, refuses 0; the refusal must be the upstream's,
            # relayed: the router routed it (decision headers) and passed the 400 on.
            assert response.status_code == 400, response.text
            assert response.headers.get("x-router-endpoint"), response.headers
        else:
            assert response.status_code == 200, f"{sent[:500]!r}: {response.text[:1000]}"

    check()
    assert_still_serving(router)
