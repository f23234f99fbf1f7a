"""The README holds word for word: its shell commands that need no running router are run as
written, from the repository root, and every shell block says which kind it is.

Each ```sh block is preceded by `<!-- readme-test: KIND -->`:
- `offline`: run here, line by line, each line must exit 0;
- `needs-router`: talks to the router `make run` starts (curl, the control API);
- `setup`: the two commands and installs, which CI runs itself (`.ci/run` is `make test`);
- `slow`: builds models (minutes); `make test` runs `edge-worker prepare` before the tests.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
KINDS = {"offline", "needs-router", "setup", "slow"}
_BLOCK = re.compile(r"(?:<!-- readme-test: ([\w-]+) -->\n)?```sh\n(.*?)```", re.DOTALL)
_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _blocks() -> list[tuple[str | None, str]]:
    return [(m.group(1), m.group(2)) for m in _BLOCK.finditer(README.read_text(encoding="utf-8"))]


def _offline_commands() -> list[str]:
    return [
        line
        for kind, body in _blocks()
        if kind == "offline"
        for line in body.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_every_shell_block_of_the_readme_says_what_it_needs() -> None:
    kinds = [kind for kind, _ in _blocks()]
    assert kinds and all(kind in KINDS for kind in kinds), kinds
    assert len(_offline_commands()) >= 5


@pytest.mark.parametrize("command", _offline_commands())
def test_readme_command_runs_as_written(command: str) -> None:
    # A user's shell: no admin token or test variables set, the repository as the directory.
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("EDGE_ROUTER_", "TEST_"))}
    completed = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {command}"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, f"{command}\n{completed.stdout}\n{completed.stderr}"
    if "check" in command and "prepare" not in command:
        assert completed.stdout.strip().endswith("ok"), completed.stdout


def test_every_relative_link_of_the_readme_exists_inside_the_repository() -> None:
    targets = [t for t in _LINK.findall(README.read_text(encoding="utf-8")) if "://" not in t]
    assert targets
    for target in targets:
        path = (ROOT / target).resolve()
        assert path.is_relative_to(ROOT), f"{target} leaves the repository"
        assert path.exists(), f"{target} does not exist"
