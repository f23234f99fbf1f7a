"""The docs document every field of the node config and of tenant policies, so they cannot drift
silently from the models."""

from __future__ import annotations

import re
from pathlib import Path
from types import UnionType
from typing import Union, get_args, get_origin

from pydantic import BaseModel

from router.config.model import NodeConfig
from router.policy.model import TenantPolicy

DOCS = Path(__file__).resolve().parents[2] / "docs"


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


def _undocumented(model: type[BaseModel], doc: Path) -> list[str]:
    text = doc.read_text(encoding="utf-8")
    # A field is documented when it appears in backticks, alone or as a part of a dotted path
    # (`weights.latency` documents both `weights` and `latency`).
    return sorted(
        name
        for name in _field_names(model)
        if not re.search(rf"`(?:[\w\[\]]+\.)*{re.escape(name)}(?:\.[\w\[\]]+)*`", text)
    )


def test_every_node_config_field_is_documented() -> None:
    assert _undocumented(NodeConfig, DOCS / "configuration.md") == []


def test_every_tenant_policy_field_is_documented() -> None:
    assert _undocumented(TenantPolicy, DOCS / "policies.md") == []
