"""Typed reads of a decoded request body's fields (the Responses and Messages APIs'), each failing
with a 400 naming its `param`.

`param` is the field's path as the API names it (`input[2].content[0].type`), so each reader
takes the object, the key and the path prefix of the object. A null value reads as absent,
as OpenAI treats it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from router.errors import InvalidRequest, Untranslatable


def invalid_type(param: str, expected: str) -> InvalidRequest:
    return InvalidRequest(f"Invalid type for '{param}': expected {expected}.", param=param)


def invalid_value(param: str, choices: Collection[str]) -> InvalidRequest:
    shown = ", ".join(f"'{choice}'" for choice in choices)
    return InvalidRequest(f"Invalid value for '{param}': expected one of {shown}.", param=param)


def missing(param: str) -> InvalidRequest:
    return InvalidRequest(f"Missing required parameter: '{param}'.", param=param)


def unsupported(param: str) -> Untranslatable:
    """A 400 naming a field no translation carries (an endpoint that speaks the request's own
    API may still take it); a name longer than any real one is cut (it is the client's)."""
    if len(param) > _LONGEST_NAME:
        param = param[:_LONGEST_NAME] + "..."
    return Untranslatable(f"Unsupported parameter: '{param}'.", param=param)


_LONGEST_NAME = 100


def check_keys(obj: Mapping[str, Any], allowed: Collection[str], prefix: str = "") -> None:
    """Refuse a key this router would otherwise drop without a word."""
    for key in obj:
        if key not in allowed:
            raise unsupported(prefix + key)


def as_object(value: object, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid_type(param, "an object")
    return value


def as_list(value: object, param: str) -> list[Any]:
    if not isinstance(value, list):
        raise invalid_type(param, "an array")
    return value


def required_str(obj: Mapping[str, Any], name: str, prefix: str = "") -> str:
    value = obj.get(name)
    if value is None:
        raise missing(prefix + name)
    if not isinstance(value, str):
        raise invalid_type(prefix + name, "a string")
    return value


def optional_str(
    obj: Mapping[str, Any], name: str, prefix: str = "", *, max_length: int | None = None
) -> str | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_type(prefix + name, "a string")
    if max_length is not None and len(value) > max_length:
        raise InvalidRequest(
            f"Invalid '{prefix + name}': string too long, at most {max_length} characters.",
            param=prefix + name,
        )
    return value


def optional_choice(
    obj: Mapping[str, Any], name: str, choices: Collection[str], prefix: str = ""
) -> str | None:
    value = optional_str(obj, name, prefix)
    if value is not None and value not in choices:
        raise invalid_value(prefix + name, choices)
    return value


def optional_bool(obj: Mapping[str, Any], name: str, prefix: str = "") -> bool | None:
    value = obj.get(name)
    if value is None or isinstance(value, bool):
        return value
    raise invalid_type(prefix + name, "a boolean")


def optional_int(
    obj: Mapping[str, Any], name: str, minimum: int, maximum: int | None = None
) -> int | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid_type(name, "an integer")
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"at least {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise InvalidRequest(
            f"Invalid '{name}': integer must be {bounds}, got {value}.", param=name
        )
    return value


def optional_number(
    obj: Mapping[str, Any], name: str, minimum: float, maximum: float
) -> float | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise invalid_type(name, "a number")
    if not minimum <= value <= maximum:
        raise InvalidRequest(
            f"Invalid '{name}': number must be between {minimum} and {maximum}, got {value}.",
            param=name,
        )
    return value
