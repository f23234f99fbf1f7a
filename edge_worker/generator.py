"""The text generator: SmolLM2-135M-Instruct as an ONNX model, on onnxruntime-genai.

`Generator.tokens` yields one decoded piece per generated token, with its log-probability when
asked (the router's cascade judges a local answer by them) and the finish reason on the last one.
It is synchronous and CPU-bound; the worker runs it in a thread, never on its event loop.

Two things onnxruntime-genai 0.18 does not do for us, learned the hard way:
- `Generator.is_done()` stays false after the end-of-sequence token once logits have been read,
  so the loop stops on its own: on an EOS id, on `max_tokens`, or on a stop string.
- Work happens lazily: `get_logits()` runs the forward pass for the next position, and
  `generate_next_token()` then draws from those logits. So a token's log-probability comes from
  the logits read *before* it is generated (read after, they belong to the next position).
The chat template is the model's own, applied by the tokenizer (`apply_chat_template`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import onnxruntime_genai as og
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge_worker.integrity import open_verified

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True, slots=True)
class Sampling:
    max_tokens: int = 256
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    logprobs: bool = False


@dataclass(frozen=True, slots=True)
class Piece:
    text: str
    token_id: int
    logprob: float | None = None
    finish_reason: FinishReason | None = None


@dataclass(slots=True)
class _StopScanner:
    """Holds back text that may be the start of a stop string, and says when one appears."""

    stops: tuple[str, ...]
    held: str = field(default="")

    def feed(self, text: str) -> tuple[str, bool]:
        """The text that may be released now, and whether a stop string was reached."""
        if not self.stops:
            return text, False
        self.held += text
        for stop in self.stops:
            at = self.held.find(stop)
            if at >= 0:
                released, self.held = self.held[:at], ""
                return released, True
        keep = max((_overlap(self.held, stop) for stop in self.stops), default=0)
        released = self.held[: len(self.held) - keep]
        self.held = self.held[len(self.held) - keep :]
        return released, False

    def flush(self) -> str:
        held, self.held = self.held, ""
        return held


def _overlap(text: str, stop: str) -> int:
    """The length of the longest end of `text` that begins `stop`."""
    for size in range(min(len(text), len(stop) - 1), 0, -1):
        if stop.startswith(text[-size:]):
            return size
    return 0


class Generator:
    def __init__(self, model_dir: Path) -> None:
        self._model = og.Model(str(model_dir))
        self._tokenizer = og.Tokenizer(self._model)
        self._eos = frozenset(int(t) for t in self._tokenizer.eos_token_ids)
        self._pad_id = int(self._tokenizer.pad_token_id)

    @classmethod
    def open(cls, directory: Path, *, signed_by: Ed25519PublicKey | None = None) -> Generator:
        """The prepared generator in `directory`, refused unless every file matches its manifest
        (and, when `signed_by` is given, the manifest's signature holds)."""
        open_verified(directory, signed_by=signed_by)
        return cls(directory)

    def prompt_ids(self, messages: Sequence[dict[str, str]]) -> list[int]:
        """The token ids of a chat, through the model's own chat template."""
        prompt = self._tokenizer.apply_chat_template(
            json.dumps(list(messages)), add_generation_prompt=True
        )
        return self.encode(prompt)

    def encode(self, text: str) -> list[int]:
        """Token ids of plain text (special tokens such as `<|im_start|>` included)."""
        return [int(t) for t in self._tokenizer.encode(text)]

    def decode(self, token_ids: Sequence[int]) -> str:
        return str(self._tokenizer.decode(np.asarray(token_ids, dtype=np.int32)))

    def tokens(self, prompt_ids: Sequence[int], sampling: Sampling) -> Iterator[Piece]:
        """One answer's pieces; the last one carries the finish reason."""
        for _, piece in self.batch([prompt_ids], [sampling]):
            yield piece

    def batch(
        self,
        prompts: Sequence[Sequence[int]],
        samplings: Sequence[Sampling],
        wanted: Callable[[int], bool] = lambda row: True,
    ) -> Iterator[tuple[int, Piece]]:
        """Several answers generated as one static batch: `(row, piece)` in step order.

        The rows share the search options of the first row (temperature, top_p, seed: the
        caller batches only requests that agree on them); each row has its own `max_tokens`,
        stop strings and log-probabilities, and ends on its own. Prompts are padded on the right
        with the pad token, as the tokenizer's own `encode_batch` does. A row that ended, or that
        `wanted` no longer wants (its client left), gives no more pieces; the batch stops when no
        row is left.
        """
        rows = len(prompts)
        longest = max(len(p) for p in prompts)
        padded = np.full((rows, longest), self._pad_id, dtype=np.int32)
        for row, ids in enumerate(prompts):
            padded[row, : len(ids)] = ids
        first = samplings[0]
        params = og.GeneratorParams(self._model)
        options: dict[str, float | int | bool] = {
            "max_length": longest + max(s.max_tokens for s in samplings),
            "do_sample": first.temperature > 0,
            "batch_size": rows,
        }
        if first.temperature > 0:
            options["temperature"] = first.temperature
            options["top_p"] = first.top_p
        if first.seed is not None:
            options["random_seed"] = first.seed
        params.set_search_options(**options)
        generator = og.Generator(self._model, params)
        generator.append_tokens(padded)
        states = [_Row(self._tokenizer.create_stream(), _StopScanner(s.stop), s) for s in samplings]
        any_logprobs = any(s.logprobs for s in samplings)
        while True:
            live = [row for row, state in enumerate(states) if not state.ended and wanted(row)]
            if not live:
                return
            # Logits first: they are the distribution the next tokens are drawn from.
            logits = generator.get_logits() if any_logprobs else None
            generator.generate_next_token()
            chosen = generator.get_next_tokens()
            for row in live:
                piece = states[row].step(int(chosen[row]), logits, row, self._eos)
                if piece is not None:
                    yield row, piece


@dataclass(slots=True)
class _Row:
    """One answer of a batch: its decoder, stop strings, budget, and whether it has ended."""

    stream: og.TokenizerStream
    scanner: _StopScanner
    sampling: Sampling
    produced: int = 0
    ended: bool = False

    def step(
        self, token: int, logits: object | None, row: int, eos: frozenset[int]
    ) -> Piece | None:
        self.produced += 1
        logprob = None
        if logits is not None and self.sampling.logprobs:
            logprob = _logprob(np.asarray(logits)[row], token)
        if token in eos:
            self.ended = True
            return Piece(self.scanner.flush(), token, logprob, "stop")
        text, stopped = self.scanner.feed(self.stream.decode(token))
        if stopped:
            self.ended = True
            return Piece(text, token, logprob, "stop")
        if self.produced >= self.sampling.max_tokens:
            self.ended = True
            return Piece(text + self.scanner.flush(), token, logprob, "length")
        return Piece(text, token, logprob)


def _logprob(logits: object, token: int) -> float:
    """The log-probability of `token` under one row's logits (log-softmax)."""
    row = np.asarray(logits, dtype=np.float64).reshape(-1)
    peak = float(row.max())
    return float(row[token] - peak - np.log(np.exp(row - peak).sum()))
