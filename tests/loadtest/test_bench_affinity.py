"""The pure parts of the affinity benchmark (loadtest/studies/affinity.py): the conversations it
builds from the vendored datasets, the statistics it reports and the configs it starts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from loadtest.mock_cloud import cloud_settings_from_mapping
from loadtest.studies.affinity import (
    REGIONS,
    Conversation,
    Prices,
    Turn,
    build_conversations,
    gptcache_questions,
    mock_config,
    node_config,
    paws_sentences,
    read_chunk,
    region_changes,
    spend_from_metrics,
    summarize,
    turn_cost_usd,
    turn_messages,
)
from router.config.loader import load_node_config

SENTENCES = [f"sentence {i} has five words" for i in range(40)]
QUESTIONS = [f"question {i}?" for i in range(30)]


def test_the_datasets_give_distinct_non_empty_texts() -> None:
    sentences, questions = paws_sentences(), gptcache_questions()
    assert len(sentences) > 4900 and len(questions) > 1900
    for texts in (sentences, questions):
        assert len(set(texts)) == len(texts) and all(t and t == t.strip() for t in texts)


def test_conversations_are_reproducible_long_enough_and_distinct() -> None:
    built = build_conversations(6, 4, 22, SENTENCES, QUESTIONS, seed=7)
    assert built == build_conversations(6, 4, 22, SENTENCES, QUESTIONS, seed=7)
    assert built != build_conversations(6, 4, 22, SENTENCES, QUESTIONS, seed=8)
    assert len(built) == 6 and all(len(c.questions) == 4 for c in built)
    for conversation in built:
        words = conversation.system.split()
        assert 22 <= len(words) < 22 + 5  # stops at the sentence that reaches the length
        assert set(conversation.questions) <= set(QUESTIONS)
    assert len({c.system for c in built}) == 6
    dealt = [q for c in built for q in c.questions]
    assert len(set(dealt)) == len(dealt)  # 24 questions of 30: none is dealt twice


def test_system_prompts_wrap_round_the_sentences() -> None:
    # Ten sentences each, from forty: every fourth would repeat one without the shift.
    built = build_conversations(40, 1, 50, SENTENCES, QUESTIONS)
    assert len({c.system for c in built}) == 40
    with pytest.raises(ValueError, match="distinct system prompts"):
        build_conversations(41, 1, 50, SENTENCES, QUESTIONS)
    with pytest.raises(ValueError, match="fewer than"):
        build_conversations(1, 1, 1000, SENTENCES, QUESTIONS)


def test_a_turn_sends_the_whole_history_and_its_question() -> None:
    conversation = Conversation("be brief", ("one?", "two?", "three?"))
    assert turn_messages(conversation, []) == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "one?"},
    ]
    assert turn_messages(conversation, ["1", "2"]) == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "one?"},
        {"role": "assistant", "content": "1"},
        {"role": "user", "content": "two?"},
        {"role": "assistant", "content": "2"},
        {"role": "user", "content": "three?"},
    ]


def test_chunks_give_content_usage_or_an_error() -> None:
    role = b'{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}'
    token = b'{"choices":[{"index":0,"delta":{"content":" hi"}}],"usage":null}'
    usage = b'{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}'
    error = b'{"error":{"message":"upstream failed","type":"server_error"}}'
    assert read_chunk(role) == ("", None, None)
    assert read_chunk(token) == (" hi", None, None)
    assert read_chunk(usage) == ("", {"prompt_tokens": 3, "completion_tokens": 1}, None)
    assert read_chunk(error) == ("", None, "upstream failed")


def turn(conversation: int, number: int, endpoint: str, **fields: object) -> Turn:
    values: dict[str, object] = {"ttft_s": 0.1, "prompt_tokens": 1000} | fields
    return Turn(conversation, number, endpoint, **values)  # type: ignore[arg-type]


def test_cost_prices_cached_input_at_its_own_price() -> None:
    answered = turn(0, 0, "a", prompt_tokens=2000, cached_tokens=1536, completion_tokens=50)
    expected = (464 * 2.50 + 1536 * 1.25 + 50 * 10.00) / 1e6
    assert turn_cost_usd(answered, Prices()) == pytest.approx(expected, rel=1e-12)


def test_region_changes_compare_each_answered_turn_with_the_one_before() -> None:
    turns = [
        turn(0, 2, "b"),
        turn(0, 0, "a"),
        turn(0, 1, "a"),  # same as turn 0
        turn(1, 0, "c"),
        turn(1, 1, "", ttft_s=None, error="HTTP 503"),  # the conversation ended here
        turn(2, 0, "a"),  # a first turn alone: nothing to compare
    ]
    assert region_changes(turns) == (1, 2)


def test_summary_adds_up_tokens_cost_latency_and_errors() -> None:
    turns = [
        turn(0, 0, "region-a", ttft_s=0.300, prompt_tokens=1500, completion_tokens=50),
        turn(0, 1, "region-b", ttft_s=0.100, prompt_tokens=1600, cached_tokens=1536),
        turn(1, 0, "region-b", ttft_s=0.200, prompt_tokens=1500),
        turn(1, 1, "", ttft_s=None, prompt_tokens=0, error="HTTP 503"),
    ]
    summary = summarize(turns, Prices())
    assert (summary["turns"], summary["answered"], summary["errors"]) == (4, 3, {"HTTP 503": 1})
    assert (summary["prompt_tokens"], summary["cached_tokens"]) == (4600, 1536)
    assert summary["cached_share"] == pytest.approx(1536 / 4600)
    assert summary["cost_usd"] == pytest.approx(sum(turn_cost_usd(t, Prices()) for t in turns[:3]))
    assert summary["ttft_p50_ms"] == pytest.approx(200.0)
    assert summary["later_ttft_p50_ms"] == pytest.approx(100.0)
    assert (summary["region_changes"], summary["later_turns_compared"]) == (1, 1)
    assert summary["first_turns_by_endpoint"] == {"region-a": 1, "region-b": 1}


def test_router_spend_is_summed_over_its_series() -> None:
    metrics = (
        "# HELP router_spend_usd_total What answered requests cost.\n"
        "# TYPE router_spend_usd_total counter\n"
        'router_spend_usd_total{alias="gpt-4o",endpoint="region-a"} 0.25\n'
        'router_spend_usd_total{alias="gpt-4o",endpoint="region-b"} 1.5e-1\n'
        'router_spend_usd_created{alias="gpt-4o",endpoint="region-a"} 1.7e9\n'
        'router_tokens_total{alias="gpt-4o",endpoint="region-a",type="input"} 99\n'
    )
    assert spend_from_metrics(metrics) == pytest.approx(0.4)


def test_the_generated_configs_are_valid_for_the_cloud_and_the_router(tmp_path: Path) -> None:
    cloud = cloud_settings_from_mapping(mock_config([9201, 9202, 9203], 9200, 100.0))
    assert [(r.name, r.rtt_ms, r.prompt_cache) for r in cloud.regions] == [
        (name, rtt_ms, True) for name, rtt_ms in REGIONS
    ]
    for affinity in (False, True):
        path = tmp_path / f"node-{affinity}.yaml"
        path.write_text(yaml.safe_dump(node_config(9300, [9201, 9202, 9203], affinity, Prices())))
        node = load_node_config(path).config
        assert node.routing.affinity.enabled is affinity
        assert not node.cache.enabled
        assert {e.models[0].cached_input_price_per_mtok for e in node.endpoints} == {1.25}
