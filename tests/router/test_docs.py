"""docs/configuration.md documents every node-config field, so the docs cannot drift silently."""

from __future__ import annotations

from pathlib import Path
from types import UnionType
from typing import Union, get_args, get_origin

from pydantic import BaseModel

from router.config.model import NodeConfig

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def _models_in(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if get_origin(annotation) in (list, tuple, Union, UnionType) or get_args(annotation):
        return [m for arg in get_args(annotation) for m in _models_in(arg)]
    return []


def _field_names(model: type[BaseModel]) -> set[str]:
    names = set(model.model_fields)
    for field in model.model_fields.values():
        for nested in _models_in(field.annotation):
            names |= _field_names(nested)
    return names


def test_every_node_config_field_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = sorted(name for name in _field_names(NodeConfig) if f"`{name}`" not in text)
    assert missing == []
