"""The generator on the real prepared SmolLM2-135M-Instruct (ONNX int4, k-quant mixed)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from edge_worker.generator import Generator, Sampling, _StopScanner
from tests.edge_worker.prepared import model_dir

GENERATOR = Path("smollm2-135m-instruct") / "int4-kquant-mixed"
FRANCE = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def generator() -> Generator:
    return Generator.open(model_dir(GENERATOR))


def test_the_capital_of_france_is_paris_and_the_answer_ends_on_its_own(
    generator: Generator,
) -> None:
    pieces = list(generator.tokens(generator.prompt_ids(FRANCE), Sampling(max_tokens=64)))
    assert "Paris" in "".join(p.text for p in pieces)
    assert pieces[-1].finish_reason == "stop"
    assert all(p.finish_reason is None for p in pieces[:-1])


def test_the_prompt_goes_through_the_models_chat_template(generator: Generator) -> None:
    ids = generator.prompt_ids([{"role": "system", "content": "Be brief."}, *FRANCE])
    # SmolLM2's template is ChatML: each turn framed by <|im_start|> and <|im_end|> tokens.
    chatml = (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert ids == generator.encode(chatml)
    (im_start,) = generator.encode("<|im_start|>")
    assert ids.count(im_start) == 3


def test_max_tokens_cuts_with_finish_reason_length(generator: Generator) -> None:
    pieces = list(generator.tokens(generator.prompt_ids(FRANCE), Sampling(max_tokens=3)))
    assert len(pieces) == 3 and pieces[-1].finish_reason == "length"


def test_a_stop_string_ends_the_answer_before_it(generator: Generator) -> None:
    sampling = Sampling(max_tokens=64, stop=("Paris",))
    pieces = list(generator.tokens(generator.prompt_ids(FRANCE), sampling))
    text = "".join(p.text for p in pieces)
    assert "Paris" not in text and text.startswith("The capital of France")
    assert pieces[-1].finish_reason == "stop"


def test_log_probabilities_are_those_of_the_chosen_tokens(generator: Generator) -> None:
    sampling = Sampling(max_tokens=16, logprobs=True)
    pieces = list(generator.tokens(generator.prompt_ids(FRANCE), sampling))
    logprobs = [p.logprob for p in pieces]
    assert all(lp is not None and lp <= 0.0 for lp in logprobs)
    # Greedy decoding picks the likeliest token: never an unlikely one.
    assert min(lp for lp in logprobs if lp is not None) > math.log(0.05)


def test_a_seed_makes_sampling_repeatable(generator: Generator) -> None:
    ids = generator.prompt_ids([{"role": "user", "content": "Write a word about the sea."}])
    sampling = Sampling(max_tokens=12, temperature=1.0, seed=11)
    first = [p.token_id for p in generator.tokens(ids, sampling)]
    assert first == [p.token_id for p in generator.tokens(ids, sampling)]


def test_the_stop_scanner_holds_back_a_possible_start_of_a_stop_string() -> None:
    scanner = _StopScanner(("<END>",))
    assert scanner.feed("hello <E") == ("hello ", False)
    assert scanner.feed("N") == ("", False)
    assert scanner.feed("D> more") == ("", True)
    scanner = _StopScanner(("<END>",))
    assert scanner.feed("a <E") == ("a ", False)
    assert scanner.feed("xit") == ("<Exit", False)


def test_a_batch_answers_each_row_as_it_would_alone(generator: Generator) -> None:
    questions = ["What is the capital of France?", "What colour is the sky on a clear day?"]
    prompts = [generator.prompt_ids([{"role": "user", "content": q}]) for q in questions]
    samplings = [Sampling(max_tokens=24), Sampling(max_tokens=6)]
    together: dict[int, list[str]] = {0: [], 1: []}
    for row, piece in generator.batch(prompts, samplings):
        together[row].append(piece.text)
    for row, (prompt, sampling) in enumerate(zip(prompts, samplings, strict=True)):
        alone = "".join(p.text for p in generator.tokens(prompt, sampling))
        assert "".join(together[row]) == alone
    assert "Paris" in "".join(together[0])


def test_a_row_no_longer_wanted_stops_getting_pieces(generator: Generator) -> None:
    prompts = [generator.prompt_ids(FRANCE)] * 2
    seen = {0: 0, 1: 0}
    for row, _ in generator.batch(
        prompts, [Sampling(max_tokens=20)] * 2, wanted=lambda row: row == 0 or seen[1] < 2
    ):
        seen[row] += 1
    assert seen[1] == 2 and seen[0] > 2
