"""Prompts, completions and keys stay out of logs, spans and metrics.

Requests full of PII and secrets go through every path (allowed, redacted, kept local, blocked,
JSON and streamed, with provider keys on the endpoints); then every log record, span (name,
attributes, events, status) and the whole `/metrics` page are searched for the values, the
client's key and the provider keys. A tenant that opts in (`privacy.log_content`) gets its
content in its spans and access-log lines, with placeholders where the values were.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest

from tests.privacy.privacy_stack import privacy_stack
from tests.stack import Stack
from tests.tenant_policies import key_of

EMAIL = "joana.prado@example.com"
CARD = "4111 1111 1111 1111"
OPENAI_KEY = "sk-proj-Zx81mQ2vLr7PcYt0Wn4sKd9Hb3Jg6FaE"
PROMPT_WORDS = "zanzibar-quokka"  # no PII, but content: it must not be logged either
TEXT = f"{PROMPT_WORDS}: charge {CARD} and mail {EMAIL}; the key is {OPENAI_KEY}"
PROVIDER_KEYS = {"us-east": "prov-key-us-7f3a9", "eu-west": "prov-key-eu-41c0d"}
SECRETS = (EMAIL, CARD, OPENAI_KEY, PROMPT_WORDS, *PROVIDER_KEYS.values())


def _chat(text: str) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}


async def _exercise(stack: Stack) -> None:
    for tenant in ("shop", "scrub", "clinic", "vault", "diary", "audited"):
        client = stack.client(api_key=key_of(tenant))
        for text in (TEXT, f"{PROMPT_WORDS} and nothing personal"):
            for stream in (False, True):
                try:
                    if stream:
                        async for _ in await client.chat.completions.create(
                            **_chat(text), stream=True
                        ):
                            pass
                    else:
                        await client.chat.completions.create(**_chat(text))
                except openai.APIStatusError:
                    pass  # blocked, or no endpoint: the error path is logged too


def _spans_text(stack: Stack, tenants: set[str] | None = None) -> str:
    parts: list[str] = []
    for span in stack.spans.get_finished_spans():
        attributes = dict(span.attributes or {})
        if tenants is not None and attributes.get("router.tenant") not in tenants:
            continue
        parts.append(span.name)
        parts.append(orjson.dumps(attributes).decode())
        parts.append(str(span.status.description))
        parts.extend(f"{e.name} {dict(e.attributes or {})}" for e in span.events)
    return "\n".join(parts)


@pytest.mark.asyncio
async def test_no_content_and_no_key_appears_in_logs_spans_or_metrics(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with privacy_stack(tmp_path, endpoint_keys=PROVIDER_KEYS) as stack:
        await _exercise(stack)
        async with stack.http.get(f"{stack.url}/metrics") as response:
            metrics = await response.text()
        lines = stack.access_log_lines()
        opted_out = [line for line in lines if line["tenant"] not in ("diary", "audited")]
        logged = "\n".join(
            [
                caplog.text,
                metrics,
                _spans_text(stack, {"shop", "scrub", "clinic", "vault"}),
                orjson.dumps(opted_out).decode(),
            ]
        )
        client_keys = [key_of(t) for t in ("shop", "scrub", "clinic", "vault", "diary")]
        for secret in (*SECRETS, *client_keys):
            assert secret not in logged
        assert len(opted_out) == 16 and all("input" not in line for line in opted_out)
        assert "allow; pii=secret,email,card" in logged  # the kinds are told, never the values
        # Opted in: the content is there, redacted; keys are still nowhere.
        opted_in = orjson.dumps([line for line in lines if line not in opted_out]).decode()
        content = opted_in + _spans_text(stack, {"diary", "audited"})
        assert PROMPT_WORDS in content and "<EMAIL_1>" in content and "<CARD_1>" in content
        for secret in (EMAIL, CARD, OPENAI_KEY, *PROVIDER_KEYS.values(), *client_keys):
            assert secret not in content
        # The upstreams did get the provider keys: they were sent, just never shown.
        received = await stack.received("eu-west")
        assert received and all(r["auth"] == "valid" for r in received)


@pytest.mark.asyncio
async def test_an_opted_in_line_holds_the_redacted_prompt_and_answer(tmp_path: Path) -> None:
    async with privacy_stack(tmp_path) as stack:
        client = stack.client(api_key=key_of("diary"))
        await client.chat.completions.create(**_chat(f"mail {EMAIL} now"))
        (line,) = stack.access_log_lines()
        assert line["input"] == [{"role": "user", "content": "mail <EMAIL_1> now"}]
        # The echo repeats the value; the log shows its placeholder.
        assert line["output"][0]["message"]["content"] == "mail <EMAIL_1> now"
        (span,) = [s for s in stack.spans.get_finished_spans() if s.kind.name == "SERVER"]
        assert span.attributes is not None
        assert "<EMAIL_1>" in str(span.attributes["gen_ai.input.messages"])
        assert "<EMAIL_1>" in str(span.attributes["gen_ai.output.messages"])
