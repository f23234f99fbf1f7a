"""Loading YAML into typed models with every problem reported as file, line and field path.

PyYAML's composed node tree keeps the line of every key and value; we walk it once to build the
plain data and an index from field path to line, validate the data with pydantic, and map each
validation error back to the line it came from. Used by the node config and the tenant policy
files, so that an operator always gets `file:line: field.path: message` for every problem at once
instead of the first one only. Problems PyYAML would raise with its own placeholder name
(`<unicode string>`, since it is given text) are caught here and given the file's real path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml

ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)

FieldPath = tuple[str | int, ...]

_NULL_TAG = "tag:yaml.org,2002:null"
_MERGE_TAG = "tag:yaml.org,2002:merge"


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


class _NodeReader:
    """Turns a composed node tree into plain data, noting each field's line and every problem."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: dict[FieldPath, int] = {}
        self.problems: list[ConfigProblem] = []
        self._constructor = yaml.constructor.SafeConstructor()
        self._open: set[int] = set()  # collections being read, to stop at an alias of itself

    def read(self, node: yaml.Node, path: FieldPath) -> Any:
        self.lines[path] = node.start_mark.line + 1
        if not isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            return self._scalar(node, path)
        if id(node) in self._open:
            self._problem(node, path, "an alias refers to a collection that contains it")
            return None
        self._open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            return [self.read(item, (*path, i)) for i, item in enumerate(node.value)]
        finally:
            self._open.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: FieldPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node, path)
            if key is None:
                continue
            field = (*path, key)
            if key in result:
                first = self.lines[field]
                self._problem(key_node, field, f"duplicate key (first written on line {first})")
                continue
            result[key] = self.read(value_node, field)
            # A field's line is the line of its key, where an operator looks for it.
            self.lines[field] = key_node.start_mark.line + 1
        return result

    def _key(self, node: yaml.Node, path: FieldPath) -> str | None:
        if node.tag == _MERGE_TAG:
            self._problem(node, path, "merge keys (`<<`) are not supported: write the fields out")
            return None
        if not isinstance(node, yaml.ScalarNode):
            self._problem(node, path, "a key must be a plain name, not a list or a mapping")
            return None
        try:
            key = self._construct(node)
        except ValueError as exc:
            self._problem(node, path, f"not a valid key: {exc}")
            return None
        if not isinstance(key, str):
            # YAML 1.1 reads `no`, `on` or `1` as a boolean or a number.
            kind = type(key).__name__
            self._problem(node, path, f"key {node.value!r} is read as {kind}: quote it")
            return None
        return key

    def _scalar(self, node: yaml.Node, path: FieldPath) -> Any:
        try:
            return self._construct(node)
        except ValueError as exc:
            self._problem(node, path, f"not a valid value: {exc}")
            return None

    def _construct(self, node: yaml.Node) -> Any:
        """The scalar's value; ValueError says why it has none (an unknown tag, 2024-02-30)."""
        try:
            return self._constructor.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            raise ValueError(exc.problem) from exc

    def _problem(self, node: yaml.Node, path: FieldPath, message: str) -> None:
        self.problems.append(
            ConfigProblem(self.file, node.start_mark.line + 1, dotted(path), message)
        )


def _compose(text: str, file: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = f"not valid YAML: {exc.problem or exc.context}"
        if exc.problem and exc.context and exc.context_mark is not None:
            # "while parsing a flow sequence": where the unclosed bracket was opened.
            message += f" ({exc.context} on line {exc.context_mark.line + 1})"
        raise ConfigInvalid([ConfigProblem(file, line, "", message)]) from exc
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        message = f"character U+{exc.character:04X} is not allowed in YAML"
        raise ConfigInvalid([ConfigProblem(file, line, "", message)]) from exc


def parse_yaml(text: str, file: str) -> tuple[Any, dict[FieldPath, int]]:
    """The fields of a YAML document whose top level is a mapping, and the line of each."""
    node = _compose(text, file)
    if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG):
        raise ConfigInvalid([ConfigProblem(file, None, "", "the file is empty")])
    if not isinstance(node, yaml.MappingNode):
        kind = "a list" if isinstance(node, yaml.SequenceNode) else "a single value"
        message = f"the top level must be a mapping of field names to values, not {kind}"
        raise ConfigInvalid([ConfigProblem(file, node.start_mark.line + 1, "", message)])
    reader = _NodeReader(file)
    data = reader.read(node, ())
    if reader.problems:
        raise ConfigInvalid(reader.problems)
    return data, reader.lines


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
    """The text of a config file, which must be UTF-8 (as YAML 1.2 and every editor default)."""
    file = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigInvalid([ConfigProblem(file, None, "", _unreadable(exc))]) from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            message = "the file is UTF-16: save it as UTF-8"
        else:
            message = f"not UTF-8 text: byte 0x{raw[exc.start]:02x} cannot be read, save as UTF-8"
        raise ConfigInvalid([ConfigProblem(file, line, "", message)]) from exc


def _unreadable(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "a directory, not a file"
    if isinstance(exc, PermissionError):
        return "cannot read: permission denied"
    return f"cannot read: {exc.strerror or exc}"


def problems_at(
    file: str, lines: dict[FieldPath, int], found: list[tuple[FieldPath, str]]
) -> list[ConfigProblem]:
    """Problems found after the schema (references, uniqueness), placed like schema problems."""
    return [ConfigProblem(file, line_of(p, lines), dotted(p), message) for p, message in found]


def raise_if_problems(
    file: str, lines: dict[FieldPath, int], problems: list[tuple[FieldPath, str]]
) -> None:
    """Checks made after the schema (references, uniqueness) report like schema problems."""
    if problems:
        raise ConfigInvalid(problems_at(file, lines, problems))
