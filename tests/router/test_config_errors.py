"""Every problem in a node config or a policy file names the file's real path, the line and the
field, through the loaders and through `edge-router config check` and `policy check` alike."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from router.cli import main
from router.config.loader import load_node_config
from router.config.yaml_source import ConfigInvalid
from router.policy.keys import hash_key
from router.policy.loader import load_policy_dir, load_policy_file

NODE = """\
auth:
  api_keys: [k]
endpoints:
  - name: a
    base_url: http://127.0.0.1:9101/v1
    region: r1
    models: [{name: m1}]
"""

POLICY = f"""\
tenant: acme
api_keys: ["{hash_key("sk-acme")}"]
models:
  - alias: gpt-4o-mini
"""


@dataclass(frozen=True)
class Broken:
    content: bytes
    line: int | None
    field: str
    message: str

    def reported(self, path: Path) -> str:
        where = f"{path}:{self.line}" if self.line is not None else str(path)
        return f"{where}: {self.field}: {self.message}"


# Problems found before the schema, the same in a node config and in a policy file.
UNREADABLE = {
    "duplicate_key": Broken(
        b"tenant: acme\nlimits: {}\nmodels: []\nlimits: {rpm: 1}\n",
        4,
        "limits",
        "duplicate key (first written on line 2)",
    ),
    "nested_duplicate_key": Broken(
        b"routing:\n  objective: cost\n  objective: latency\n",
        3,
        "routing.objective",
        "duplicate key (first written on line 2)",
    ),
    "yaml_syntax": Broken(
        b"tenant: acme\nmodels: [a, b\nlimits: {}\n",
        3,
        "<root>",
        "not valid YAML: expected ',' or ']', but got ':' "
        "(while parsing a flow sequence on line 2)",
    ),
    "top_level_list": Broken(
        b"# a list\n- tenant: acme\n",
        2,
        "<root>",
        "the top level must be a mapping of field names to values, not a list",
    ),
    "top_level_scalar": Broken(
        b"acme\n",
        1,
        "<root>",
        "the top level must be a mapping of field names to values, not a single value",
    ),
    "empty_file": Broken(b"", None, "<root>", "the file is empty"),
    "only_comments": Broken(b"# nothing yet\n\n", None, "<root>", "the file is empty"),
    "latin1_text": Broken(
        b"tenant: acme\n# caf\xe9\n",
        2,
        "<root>",
        "not UTF-8 text: byte 0xe9 cannot be read, save as UTF-8",
    ),
    "utf16_text": Broken(
        "tenant: acme\n".encode("utf-16"), 1, "<root>", "the file is UTF-16: save it as UTF-8"
    ),
    "control_character": Broken(
        b"tenant: acme\nmodels: \x00\n", 2, "<root>", "character U+0000 is not allowed in YAML"
    ),
    "unknown_tag": Broken(
        b"tenant: acme\nlimits: !secret x\n",
        2,
        "limits",
        "not a valid value: could not determine a constructor for the tag '!secret'",
    ),
    "impossible_date": Broken(
        b"tenant: acme\nsince: 2024-02-30\n",
        2,
        "since",
        "not a valid value: day is out of range for month",
    ),
    "key_read_as_boolean": Broken(
        b"tenant: acme\nrouting:\n  no: 1\n", 3, "routing", "key 'no' is read as bool: quote it"
    ),
    "merge_key": Broken(
        b"tenant: acme\nrouting:\n  <<: {objective: cost}\n",
        3,
        "routing",
        "merge keys (`<<`) are not supported: write the fields out",
    ),
}


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def _problems_of_policy(path: Path) -> list[str]:
    with pytest.raises(ConfigInvalid) as raised:
        load_policy_file(path)
    return [str(p) for p in raised.value.problems]


def _problems_of_node(path: Path) -> list[str]:
    with pytest.raises(ConfigInvalid) as raised:
        load_node_config(path, {})
    return [str(p) for p in raised.value.problems]


def _refused_by_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err


@pytest.mark.parametrize("kind", sorted(UNREADABLE))
def test_an_unreadable_policy_file_is_reported_with_its_path_and_line(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = UNREADABLE[kind]
    path = _write(tmp_path / "acme.yaml", broken.content)
    assert _problems_of_policy(path) == [broken.reported(path)]
    assert [str(p) for p in load_policy_dir(tmp_path).problems] == [broken.reported(path)]
    assert _refused_by_cli(["policy", "check", str(path)], capsys) == broken.reported(path) + "\n"
    assert _refused_by_cli(["policy", "check", str(tmp_path)], capsys) == (
        broken.reported(path) + "\n"
    )


@pytest.mark.parametrize("kind", sorted(UNREADABLE))
def test_an_unreadable_node_config_is_reported_with_its_path_and_line(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = UNREADABLE[kind]
    path = _write(tmp_path / "node.yaml", broken.content)
    assert _problems_of_node(path) == [broken.reported(path)]
    assert _refused_by_cli(["config", "check", str(path)], capsys) == broken.reported(path) + "\n"


def test_every_duplicate_key_is_reported_not_only_the_first(tmp_path: Path) -> None:
    text = POLICY + "limits: {}\nlimits: {}\nrouting: {}\nrouting: {}\n"
    path = _write(tmp_path / "acme.yaml", text.encode())
    assert _problems_of_policy(path) == [
        f"{path}:6: limits: duplicate key (first written on line 5)",
        f"{path}:8: routing: duplicate key (first written on line 7)",
    ]


def test_a_missing_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "absent.yaml"
    assert _problems_of_policy(path) == [f"{path}: <root>: no such file"]
    assert _problems_of_node(path) == [f"{path}: <root>: no such file"]
    assert _refused_by_cli(["policy", "check", str(path)], capsys) == (
        f"{path}: <root>: no such file\n"
    )
    assert _refused_by_cli(["config", "check", str(path)], capsys) == (
        f"{path}: <root>: no such file\n"
    )


def test_a_directory_given_as_the_node_config_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _refused_by_cli(["config", "check", str(tmp_path)], capsys) == (
        f"{tmp_path}: <root>: a directory, not a file\n"
    )


def test_schema_problems_and_unknown_fields_in_a_node_config_name_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = NODE + "routing:\n  max_attempts: 0\n  colour: blue\n"
    path = _write(tmp_path / "node.yaml", text.encode())
    expected = [
        f"{path}:9: routing.max_attempts: Input should be greater than or equal to 1",
        f"{path}:10: routing.colour: Extra inputs are not permitted",
    ]
    assert _problems_of_node(path) == expected
    assert _refused_by_cli(["config", "check", str(path)], capsys) == "\n".join(expected) + "\n"


def test_schema_problems_and_unknown_fields_in_a_policy_name_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = POLICY + "limits:\n  daily_budget_usd: -5\ncolour: blue\n"
    path = _write(tmp_path / "acme.yaml", text.encode())
    expected = [
        f"{path}:6: limits.daily_budget_usd: Input should be greater than 0",
        f"{path}:7: colour: Extra inputs are not permitted",
    ]
    assert _problems_of_policy(path) == expected
    assert _refused_by_cli(["policy", "check", str(path)], capsys) == "\n".join(expected) + "\n"


def test_a_missing_policy_directory_is_named_by_the_node_config_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = NODE + "policies:\n  directory: tenants\n"
    path = _write(tmp_path / "node.yaml", text.encode())
    expected = f"{path}:9: policies.directory: {tmp_path / 'tenants'} does not exist"
    assert _problems_of_node(path) == [expected]
    assert _refused_by_cli(["config", "check", str(path)], capsys) == expected + "\n"
    _write(tmp_path / "tenants", b"")
    expected = f"{path}:9: policies.directory: {tmp_path / 'tenants'} is not a directory"
    assert _problems_of_node(path) == [expected]


def test_config_check_reports_the_broken_policy_files_the_node_config_points_to(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    _write(tenants / "acme.yaml", POLICY.encode())
    broken = _write(tenants / "zeta.yaml", b"tenant: zeta\ntenant: zeta\n")
    node = _write(tmp_path / "node.yaml", (NODE + "policies:\n  directory: tenants\n").encode())
    assert _refused_by_cli(["config", "check", str(node)], capsys) == (
        f"{broken}:2: tenant: duplicate key (first written on line 1)\n"
    )
    broken.unlink()
    assert main(["config", "check", str(node)]) == 0
    assert capsys.readouterr().out == "ok\n"


def test_a_missing_policy_directory_is_named_by_policy_check_and_the_loader(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "tenants"
    assert [str(p) for p in load_policy_dir(missing).problems] == [
        f"{missing}: <root>: no such directory"
    ]
    not_a_directory = _write(tmp_path / "tenants.txt", b"")
    assert [str(p) for p in load_policy_dir(not_a_directory).problems] == [
        f"{not_a_directory}: <root>: not a directory"
    ]


def test_a_key_hash_shared_by_two_tenants_names_both_files_and_lines(tmp_path: Path) -> None:
    acme = _write(tmp_path / "acme.yaml", POLICY.encode())
    zeta = _write(tmp_path / "zeta.yaml", POLICY.replace("acme", "zeta", 1).encode())
    problems = [str(p) for p in load_policy_dir(tmp_path).problems]
    unowned = "it authenticates no tenant until only one lists it"
    assert problems == [
        f"{acme}:2: api_keys[0]: this key hash is also listed by tenant 'zeta' ({zeta}): {unowned}",
        f"{zeta}:2: api_keys[0]: this key hash is also listed by tenant 'acme' ({acme}): {unowned}",
    ]
