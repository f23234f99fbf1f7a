"""Validate JSON bodies against the official OpenAI OpenAPI schemas.

    from tests.openapi_schemas import validate
    validate("CreateChatCompletionResponse", orjson.loads(body))

The spec (third_party/openai-openapi/openapi.yaml, 3 MB of YAML, about a second to parse) is loaded
once per test session, on first use. It is OpenAPI 3.1 but still marks some schemas with the 3.0
flag `nullable: true`, which a JSON Schema validator ignores; those are rewritten to "that schema,
or null" before validating, otherwise real OpenAI bodies (e.g. `"usage": null` in stream chunks)
would be rejected.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

# The spec is vendored, unmodified, with its provenance and licence beside it.
SPEC_PATH = Path(__file__).resolve().parents[1] / "third_party" / "openai-openapi" / "openapi.yaml"
_SPEC_URI = "urn:openai:openapi"


def validate(schema_name: str, instance: object) -> None:
    """Raise AssertionError listing every place where `instance` breaks `schema_name`."""
    errors = sorted(_validator(schema_name).iter_errors(instance), key=lambda e: list(e.path))
    if not errors:
        return
    lines = [f"  at {error.json_path}: {error.message}" for error in errors[:20]]
    if len(errors) > 20:
        lines.append(f"  ... and {len(errors) - 20} more")
    raise AssertionError(
        f"body does not match OpenAI schema {schema_name} ({len(errors)} problem(s)):\n"
        + "\n".join(lines)
    )


def schema_names() -> frozenset[str]:
    return frozenset(_spec()["components"]["schemas"])


@cache
def _validator(schema_name: str) -> Draft202012Validator:
    if schema_name not in schema_names():
        raise KeyError(f"the OpenAI spec has no schema named {schema_name!r}")
    ref = {"$ref": f"{_SPEC_URI}#/components/schemas/{schema_name}"}
    return Draft202012Validator(ref, registry=_registry())


@cache
def _registry() -> Registry[Any]:
    registry: Registry[Any] = Registry().with_resource(
        _SPEC_URI, DRAFT202012.create_resource(_spec())
    )
    return registry


@cache
def _spec() -> dict[str, Any]:
    with SPEC_PATH.open("rb") as f:
        spec = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    rewritten: dict[str, Any] = _nullable_to_null_type(spec)
    return rewritten


def _nullable_to_null_type(node: Any) -> Any:
    if isinstance(node, list):
        return [_nullable_to_null_type(item) for item in node]
    if not isinstance(node, dict):
        return node
    rewritten = {key: _nullable_to_null_type(value) for key, value in node.items()}
    # `nullable` is a schema keyword only when it is the boolean true; a property called
    # "nullable" would map to a schema object instead.
    if rewritten.get("nullable") is True:
        del rewritten["nullable"]
        return {"anyOf": [rewritten, {"type": "null"}]}
    return rewritten
