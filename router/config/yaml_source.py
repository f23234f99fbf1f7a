"""Loading YAML into typed models with every problem reported as file, line and field path.

PyYAML's composed node tree keeps the line of every key and value; we walk it once to build the
plain data and an index from field path to line, validate the data with pydantic, and map each
validation error back to the line it came from. Used by the node config and, later, the tenant
policy files, so that an operator always gets `file:line: field.path: message` for every problem at
once instead of the first one only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml

ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)

FieldPath = tuple[str | int, ...]


@dataclass(frozen=True)
class ConfigProblem:
    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.field or '<root>'}: {self.message}"


class ConfigInvalid(Exception):
    """Raised with every problem found in one file, never only the first."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def _to_data(node: yaml.Node, path: FieldPath, lines: dict[FieldPath, int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            if key in result:
                line = key_node.start_mark.line + 1
                raise ConfigInvalid(
                    [ConfigProblem(_file_of(node), line, dotted((*path, key)), "duplicate key")]
                )
            result[key] = _to_data(value_node, (*path, key), lines)
            # A field's line is the line of its key, where an operator looks for it.
            lines[(*path, key)] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_to_data(item, (*path, i), lines) for i, item in enumerate(node.value)]
    return _scalar(node)


def _file_of(node: yaml.Node) -> str:
    return str(node.start_mark.name)


def _scalar(node: yaml.Node) -> Any:
    return yaml.constructor.SafeConstructor().construct_object(node, deep=True)


def parse_yaml(text: str, file: str) -> tuple[Any, dict[FieldPath, int]]:
    """The plain data of a YAML document and the line of each field path in it."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigInvalid(
            [ConfigProblem(file, line, "", f"not valid YAML: {exc.problem}")]
        ) from exc
    lines: dict[FieldPath, int] = {}
    if node is None:
        return {}, lines
    return _to_data(node, (), lines), lines


def line_of(path: FieldPath, lines: dict[FieldPath, int]) -> int | None:
    """The line of a field, or of its nearest enclosing mapping when it is missing."""
    for end in range(len(path), -1, -1):
        line = lines.get(path[:end])
        if line is not None:
            return line
    return None


def dotted(path: FieldPath) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def validate(model: type[ModelT], data: Any, lines: dict[FieldPath, int], file: str) -> ModelT:
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(part for part in error["loc"] if not _is_union_tag(part))
            problems.append(ConfigProblem(file, line_of(loc, lines), dotted(loc), error["msg"]))
        raise ConfigInvalid(problems) from exc


def _is_union_tag(part: str | int) -> bool:
    # pydantic inserts the chosen union member or function name into locations; they are not
    # fields the operator wrote.
    return isinstance(part, str) and (part.startswith("function-") or "[" in part)


def read_config_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigInvalid([ConfigProblem(str(path), None, "", f"cannot read: {exc}")]) from exc


def raise_if_problems(
    file: str, lines: dict[FieldPath, int], problems: list[tuple[FieldPath, str]]
) -> None:
    """Checks made after the schema (references, uniqueness) report like schema problems."""
    if problems:
        raise ConfigInvalid(
            [ConfigProblem(file, line_of(p, lines), dotted(p), message) for p, message in problems]
        )
