"""A prepared model is refused when a file was changed, and when a required signature fails."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge_worker.integrity import ModelRefused, open_verified
from edge_worker.manifest import load, sign, write
from tests.edge_worker.prepared import EMBEDDER, model_dir


@pytest.fixture
def embedder_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "embedder"
    shutil.copytree(model_dir(EMBEDDER), copy)
    return copy


def test_an_untouched_model_opens(embedder_copy: Path) -> None:
    manifest = open_verified(embedder_copy)
    assert {f.path for f in manifest.files} >= {"model.onnx", "tokenizer.json"}


def test_a_tampered_file_is_refused_by_name(embedder_copy: Path) -> None:
    model = embedder_copy / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, same size
    model.write_bytes(bytes(data))
    with pytest.raises(ModelRefused, match=r"model\.onnx: sha256 [0-9a-f]{64}, the manifest"):
        open_verified(embedder_copy)


def test_a_missing_or_extra_file_is_refused(embedder_copy: Path) -> None:
    (embedder_copy / "tokenizer.json").unlink()
    (embedder_copy / "extra.onnx").write_bytes(b"not vouched for")
    with pytest.raises(ModelRefused) as refused:
        open_verified(embedder_copy)
    assert "tokenizer.json: missing" in str(refused.value)
    assert "extra.onnx: not in the manifest" in str(refused.value)


def test_a_required_signature_must_hold_for_the_operators_key(embedder_copy: Path) -> None:
    operator = Ed25519PrivateKey.generate()
    with pytest.raises(ModelRefused, match="not signed"):
        open_verified(embedder_copy, signed_by=operator.public_key())
    write(embedder_copy, sign(load(embedder_copy), operator))
    open_verified(embedder_copy, signed_by=operator.public_key())
    with pytest.raises(ModelRefused, match="does not match"):
        open_verified(embedder_copy, signed_by=Ed25519PrivateKey.generate().public_key())


def test_edge_worker_sign_signs_a_verified_model_for_serve_to_require(
    embedder_copy: Path, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    from edge_worker.cli import main

    operator = Ed25519PrivateKey.generate()
    key_file = tmp_path / "operator.pem"
    key_file.write_bytes(operator.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    assert main(["sign", str(embedder_copy), "--key", str(key_file)]) == 0
    open_verified(embedder_copy, signed_by=operator.public_key())
    (embedder_copy / "tokenizer.json").write_text("{}")
    assert main(["sign", str(embedder_copy), "--key", str(key_file)]) == 2  # tampered: refused
