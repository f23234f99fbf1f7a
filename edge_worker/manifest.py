"""A prepared model's manifest: where the model came from, how it was built, and the sha256 and
size of every file it is made of.

`edge-worker prepare` writes `manifest.json` last into a model directory; the worker checks every
file against it at load (`verify`) and refuses a model that does not match, naming the file. The
manifest can carry an Ed25519 signature by an operator key, made over the canonical JSON of the
manifest without its `signature` field (sorted keys, no whitespace, UTF-8).

Pure Python on purpose (pydantic, hashlib, cryptography): the serving side imports it, and the
serving side never imports torch or transformers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

MANIFEST_NAME = "manifest.json"
_CHUNK_BYTES = 1 << 20


class ManifestError(Exception):
    """A manifest that is missing, unreadable or not a manifest."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SourceFile(_Frozen):
    """One file taken from an installed PyPI package."""

    package: str
    version: str
    path: str = Field(description="the file's path inside the installed package")
    sha256: str


class BuildInfo(_Frozen):
    """The tools (name -> version) and builder arguments that turned the sources into the files."""

    tools: dict[str, str]
    arguments: tuple[str, ...] = ()


class EmbeddingSpec(_Frozen):
    """What the embedder does around the ONNX graph; the serving side follows it exactly."""

    pooling: Literal["mean"] = "mean"
    pooling_mask: Literal["attention_mask"] = "attention_mask"
    normalization: Literal["l2"] = "l2"
    max_sequence_length: int
    dimension: int
    pad_token_id: int = 0


class FileEntry(_Frozen):
    path: str = Field(description="relative to the model directory, with '/' separators")
    sha256: str
    size_bytes: int


class Manifest(_Frozen):
    format_version: Literal[1] = 1
    name: str
    kind: Literal["generator", "embedder"]
    precision: str
    sources: tuple[SourceFile, ...]
    build: BuildInfo | None = None
    files: tuple[FileEntry, ...]
    tokenizer: str = Field(description="the tokenizer file, one of `files`")
    chat_template: str | None = None
    context_length: int
    embedding: EmbeddingSpec | None = None
    created_at: str
    signature: str | None = Field(
        default=None, description="base64 Ed25519 signature of the canonical JSON without it"
    )

    def canonical_bytes(self) -> bytes:
        """What a signature covers: every field but `signature`, as canonical JSON."""
        data = self.model_dump(mode="json", exclude={"signature"})
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _model_files(directory: Path) -> Iterator[Path]:
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.relative_to(directory).as_posix() != MANIFEST_NAME:
            yield path


def describe_files(directory: Path) -> tuple[FileEntry, ...]:
    """Every file under `directory` but the manifest, with its sha256 and size, sorted by path."""
    return tuple(
        FileEntry(
            path=path.relative_to(directory).as_posix(),
            sha256=sha256_file(path),
            size_bytes=path.stat().st_size,
        )
        for path in _model_files(directory)
    )


def load(directory: Path) -> Manifest:
    path = directory / MANIFEST_NAME
    try:
        return Manifest.model_validate_json(path.read_bytes())
    except FileNotFoundError as error:
        raise ManifestError(f"{path}: no manifest (the model is not prepared)") from error
    except ValidationError as error:
        raise ManifestError(f"{path}: not a valid manifest: {error}") from error


def write(directory: Path, manifest: Manifest) -> Path:
    """Writes `manifest.json` through a temporary file, so a reader never sees half of it."""
    path = directory / MANIFEST_NAME
    partial = directory / f".{MANIFEST_NAME}.partial"
    partial.write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    os.replace(partial, path)
    return path


def verify(directory: Path, manifest: Manifest | None = None) -> list[str]:
    """Every way the files in `directory` differ from the manifest; empty when they all match.

    Each problem names its file: missing, of another size, of another sha256, or present but not
    in the manifest (nothing the manifest does not vouch for may sit beside the model).
    """
    if manifest is None:
        try:
            manifest = load(directory)
        except ManifestError as error:
            return [str(error)]
    problems: list[str] = []
    listed = {entry.path for entry in manifest.files}
    for entry in manifest.files:
        path = directory / entry.path
        if not path.is_file():
            problems.append(f"{entry.path}: missing")
            continue
        size_bytes = path.stat().st_size
        if size_bytes != entry.size_bytes:
            problems.append(
                f"{entry.path}: size {size_bytes} bytes, the manifest says {entry.size_bytes}"
            )
        elif (digest := sha256_file(path)) != entry.sha256:
            problems.append(f"{entry.path}: sha256 {digest}, the manifest says {entry.sha256}")
    for path in _model_files(directory):
        relative = path.relative_to(directory).as_posix()
        if relative not in listed:
            problems.append(f"{relative}: not in the manifest")
    if manifest.tokenizer not in listed:
        problems.append(f"{manifest.tokenizer}: the tokenizer is not among the manifest's files")
    return problems


def sign(manifest: Manifest, key: Ed25519PrivateKey) -> Manifest:
    signature = key.sign(manifest.canonical_bytes())
    return manifest.model_copy(update={"signature": base64.b64encode(signature).decode()})


def signature_problem(manifest: Manifest, key: Ed25519PublicKey) -> str | None:
    """Why the manifest's signature does not hold for `key`, or None when it does."""
    if manifest.signature is None:
        return "the manifest is not signed"
    try:
        signature = base64.b64decode(manifest.signature, validate=True)
    except ValueError:
        return "the manifest's signature is not base64"
    try:
        key.verify(signature, manifest.canonical_bytes())
    except InvalidSignature:
        return "the manifest's signature does not match (wrong key, or the manifest was changed)"
    return None
