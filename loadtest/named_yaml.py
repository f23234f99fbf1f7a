"""A named YAML file of a directory (a scenario, a topology) loaded into its pydantic model, every
problem said with the file and the field, so that a typo never runs something other than what
was written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)

# Parts of an error's location that name a type pydantic tried, not a field of the file.
_TYPE_TRIED = re.compile(r"^(int|float|str|tagged-union\[.*\]|function-\w+\[.*\])$")


def names_in(directory: Path) -> list[str]:
    return sorted(path.stem for path in directory.glob("*.yaml"))


def load_named(
    name_or_path: str,
    directory: Path,
    model: type[Model],
    invalid: type[Exception],
) -> Model:
    """The file `name_or_path` names (a file of `directory`, or a path to a YAML file) as
    `model`, its `name` its file's stem; `invalid` raised, naming the file, when it is not one.
    The kind of thing it is, in messages, is the model's name in lower case, less a `File`
    (`TopologyFile`: topology)."""
    kind = model.__name__.lower().removesuffix("file")
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = directory / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(names_in(directory)) or "none"
        raise invalid(f"no {kind} {name_or_path!r} (known: {known})")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise invalid(f"{path}: not YAML: {error}") from None
    if not isinstance(data, dict):
        raise invalid(f"{path}: a {kind} is a mapping")
    try:
        return model.model_validate({**data, "name": path.stem})
    except ValidationError as error:
        raise invalid(f"{path}: {problems(error)}") from None


def problems(error: ValidationError) -> str:
    """Each problem as `field.path: message` (a check across fields names its own fields). A
    field that takes a number or a mapping (a distribution) reports only the form the file gave:
    a mapping's problems, not "not an int"."""
    said = []
    for each in error.errors():
        if each["type"] == "int_type" and isinstance(each["input"], dict):
            continue
        if each["type"] == "too_short" and each["input"]:  # short only of its invalid items
            continue
        path = ".".join(str(part) for part in each["loc"] if not _TYPE_TRIED.match(str(part)))
        message = each["msg"].removeprefix("Value error, ")
        said.append(f"{path}: {message}" if path else message)
    return "; ".join(dict.fromkeys(said))
