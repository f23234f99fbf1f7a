"""The repository carries everything its code, tests, benchmarks and docs read: no tracked file
refers to a path outside the checkout. Development machines keep a folder of specs and datasets
beside the checkout; a clone does not have it, so a reference to it worked there and nowhere else
(the OpenAI spec and the cache datasets were read from it until they were vendored into
third_party/, whose own READMEs name their upstream sources and are not scanned).

What counts as leaving the repository:
- a relative path climbing with `..` that, taken from the file's own folder, does not land on a
  file or folder of the checkout (written relative to the root, it means "beside the checkout");
- the sibling folder of specs and datasets by name (`SIBLING`), from anywhere;
- an absolute path into a machine's work or home folders;
- in Python, `Path(__file__)` climbing above the root, or the root's `.parent`.
The user's cache (the model store, `~/.cache/edge-router`) is the user's and may be named.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[1]
# Vendored files are kept byte for byte, and their READMEs name upstream paths on purpose; this
# file names what it looks for.
UNSCANNED = ("third_party/", "tests/test_self_contained.py")

# The folder's name is assembled, so this checker is not itself a reference to it.
SIBLING = "sha" + "red"
SIBLING_FOLDER = re.compile(rf"\.\./{SIBLING}\b")
MACHINE_PATH = re.compile(r"(?<![\w.~-])/(?:work|home|Users)/")
# `../x/y` (or bare `..` after a slash, as in `$(dirname "$0")/..`), not part of a longer word.
CLIMBING_PATH = re.compile(r"(?<![\w.])(?:\.\./)+[\w.\-/]*|(?<=/)\.\.(?![\w./])")
FILE_PARENTS = re.compile(r"Path\(__file__\)(?:\.resolve\(\))?\.parents\[(\d+)\]")
FILE_PARENT_CHAIN = re.compile(r"Path\(__file__\)(?:\.resolve\(\))?((?:\.parent\b)+)(?!s)")
ROOT_PARENT = re.compile(r"\b\w*(?:ROOT|REPO)\.parent\b")


def test_no_tracked_file_refers_to_a_path_outside_the_repository() -> None:
    found = [
        f"{path}:{number}: {problem}"
        for path in _tracked_files()
        if not path.startswith(UNSCANNED)
        for number, line in _text_lines(ROOT / path)
        for problem in _problems(path, line)
    ]
    assert found == [], "references outside the repository:\n" + "\n".join(found)


def test_the_check_sees_the_references_it_is_for() -> None:
    assert _problems("docs/cache.md", f"from `../{SIBLING}/datasets/paws_wiki_test.tsv`")
    assert _problems(
        "tests/openapi_schemas.py", f'Path(__file__).resolve().parents[2] / "{SIBLING}"'
    )
    assert _problems("tests/openapi_schemas.py", "Path(__file__).parent.parent.parent")
    assert _problems("loadtest/bench.py", f'DATASETS = ROOT.parent / "{SIBLING}" / "datasets"')
    assert _problems("README.md", f"see /work/{SIBLING}/DESIGN.md")
    assert _problems("docs/cache.md", "[a](../../outside.md)")
    assert _problems("docs/cache.md", "[a](../nothing-here.md)")
    assert not _problems("docs/cache.md", "[b](../policies/default.yaml).")
    assert not _problems("deploy/local/node.yaml", "directory: ../../policies")
    assert not _problems(".ci/run", 'cd "$(dirname "$0")/.."')
    assert not _problems("tests/openapi_schemas.py", "Path(__file__).resolve().parents[1]")
    assert not _problems("README.md", "and so on... and ~/.cache/edge-router/models")


def _tracked_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    return [os.fsdecode(name) for name in listed.split(b"\0") if name]


def _text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """A text file's lines, numbered from 1; nothing for a binary file (or one deleted on disk)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    if b"\0" in data:
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    yield from enumerate(text.splitlines(), start=1)


def _problems(path: str, line: str) -> list[str]:
    """What in `line` of the file at `path` (relative to the root) leads out of the repository."""
    problems = [f"the sibling folder {m.group()}" for m in SIBLING_FOLDER.finditer(line)]
    problems += [f"a machine's path {m.group()}" for m in MACHINE_PATH.finditer(line)]
    folder = PurePosixPath(path).parent
    for match in CLIMBING_PATH.finditer(line):
        # A sentence's full stop is not part of the path; the `..` of `../..` is.
        reference = re.sub(r"(?<=[^./])\.+$", "", match.group())
        if SIBLING_FOLDER.search(reference):
            continue  # said above
        target = _lexical(folder / reference)
        if target is None or not (ROOT / target).exists():
            problems.append(f"{reference} (from {folder}/) is not in the repository")
    depth = len(PurePosixPath(path).parts)  # parents[depth - 1] is the root
    for match in FILE_PARENTS.finditer(line):
        if int(match.group(1)) >= depth:
            problems.append(f"{match.group()} climbs above the repository")
    for match in FILE_PARENT_CHAIN.finditer(line):
        if match.group(1).count(".parent") > depth:
            problems.append(f"{match.group()} climbs above the repository")
    problems += [f"{m.group()} is outside the repository" for m in ROOT_PARENT.finditer(line)]
    return problems


def _lexical(path: PurePosixPath) -> str | None:
    """`path` (relative to the root) with its `..` taken away; None when it climbs above it."""
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            if not parts:
                return None
            parts.pop()
        elif part not in (".", ""):
            parts.append(part)
    return "/".join(parts) or "."
