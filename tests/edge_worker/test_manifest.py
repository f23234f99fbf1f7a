"""The manifest: written and read back unchanged; `verify` names every file that does not match;
an Ed25519 signature holds only for the signed manifest and its key."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge_worker import manifest


def _model(directory: Path) -> manifest.Manifest:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.onnx").write_bytes(b"graph" * 100)
    (directory / "tokenizer.json").write_text('{"model": {}}', encoding="utf-8")
    (directory / "sub").mkdir(exist_ok=True)
    (directory / "sub" / "weights.data").write_bytes(bytes(range(256)) * 4)
    described = manifest.Manifest(
        name="tiny",
        kind="generator",
        precision="int4-kquant-mixed",
        sources=(
            manifest.SourceFile(
                package="tiny-weights", version="1.0", path="tiny/model.gguf", sha256="ab" * 32
            ),
        ),
        build=manifest.BuildInfo(tools={"onnxruntime-genai": "0.18.0"}, arguments=("-p", "int4")),
        files=manifest.describe_files(directory),
        tokenizer="tokenizer.json",
        chat_template="{% for m in messages %}{{ m['content'] }}{% endfor %}",
        context_length=8192,
        created_at="2026-01-01T00:00:00+00:00",
    )
    manifest.write(directory, described)
    return described


def test_a_written_manifest_loads_back_equal_and_its_model_verifies(tmp_path: Path) -> None:
    written = _model(tmp_path)
    assert manifest.load(tmp_path) == written
    assert [f.path for f in written.files] == ["model.onnx", "sub/weights.data", "tokenizer.json"]
    assert manifest.verify(tmp_path) == []


def test_embedder_settings_round_trip(tmp_path: Path) -> None:
    described = _model(tmp_path).model_copy(
        update={
            "kind": "embedder",
            "chat_template": None,
            "embedding": manifest.EmbeddingSpec(max_sequence_length=256, dimension=384),
        }
    )
    manifest.write(tmp_path, described)
    loaded = manifest.load(tmp_path)
    assert loaded.embedding == manifest.EmbeddingSpec(max_sequence_length=256, dimension=384)
    assert (loaded.embedding.pooling, loaded.embedding.normalization) == ("mean", "l2")


def test_verify_names_a_file_changed_in_place(tmp_path: Path) -> None:
    _model(tmp_path)
    (tmp_path / "model.onnx").write_bytes(b"GRAPH" * 100)  # same size, other bytes
    (problem,) = manifest.verify(tmp_path)
    assert problem.startswith("model.onnx: sha256 ")


def test_verify_names_a_truncated_file(tmp_path: Path) -> None:
    _model(tmp_path)
    (tmp_path / "sub" / "weights.data").write_bytes(b"short")
    assert manifest.verify(tmp_path) == ["sub/weights.data: size 5 bytes, the manifest says 1024"]


def test_verify_names_a_missing_file(tmp_path: Path) -> None:
    _model(tmp_path)
    (tmp_path / "tokenizer.json").unlink()
    assert manifest.verify(tmp_path) == ["tokenizer.json: missing"]


def test_verify_names_a_file_the_manifest_does_not_list(tmp_path: Path) -> None:
    _model(tmp_path)
    (tmp_path / "custom_ops.so").write_bytes(b"\x7fELF")
    assert manifest.verify(tmp_path) == ["custom_ops.so: not in the manifest"]


def test_verify_without_a_manifest_says_the_model_is_not_prepared(tmp_path: Path) -> None:
    (problem,) = manifest.verify(tmp_path)
    assert "no manifest" in problem


def test_load_refuses_a_file_that_is_not_a_manifest(tmp_path: Path) -> None:
    (tmp_path / manifest.MANIFEST_NAME).write_text('{"name": "x"}', encoding="utf-8")
    with pytest.raises(manifest.ManifestError, match="not a valid manifest"):
        manifest.load(tmp_path)


def test_a_signature_holds_for_its_key_and_survives_a_round_trip(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    signed = manifest.sign(_model(tmp_path), key)
    manifest.write(tmp_path, signed)
    loaded = manifest.load(tmp_path)
    assert manifest.signature_problem(loaded, key.public_key()) is None
    assert manifest.verify(tmp_path) == []


def test_a_signature_fails_for_a_changed_manifest_or_another_key(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    signed = manifest.sign(_model(tmp_path), key)
    changed = signed.model_copy(update={"precision": "fp32"})
    assert "does not match" in (manifest.signature_problem(changed, key.public_key()) or "")
    other = Ed25519PrivateKey.generate().public_key()
    assert "does not match" in (manifest.signature_problem(signed, other) or "")
    unsigned = signed.model_copy(update={"signature": None})
    assert manifest.signature_problem(unsigned, key.public_key()) == "the manifest is not signed"
