"""Loading tenant policy files: every problem in every file, with file, line and field.

`load_policy_dir` reads `*.yaml` in a directory. A file that fails is reported and left out;
the others load, so one tenant's mistake never takes the others down; a directory that is missing
or cannot be listed is one problem, named by its path. Checks that span fields (aliases named by
experiments, one experiment per alias) or files (tenant ids, keys used by two tenants) are made
here, after the schema, so that each can name where it went wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from router.config.yaml_source import (
    ConfigInvalid,
    ConfigProblem,
    FieldPath,
    dotted,
    line_of,
    parse_yaml,
    raise_if_problems,
    read_config_text,
    validate,
)
from router.policy.model import TenantPolicy


@dataclass
class PolicySet:
    policies: dict[str, TenantPolicy] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    problems: list[ConfigProblem] = field(default_factory=list)


def _field_problems(policy: TenantPolicy, stem: str) -> list[tuple[FieldPath, str]]:
    problems: list[tuple[FieldPath, str]] = []
    if policy.tenant != stem:
        problems.append((("tenant",), f"must match the file name ({stem!r})"))
    aliases = [rule.alias for rule in policy.models]
    for i, alias in enumerate(aliases):
        if alias in aliases[:i]:
            problems.append((("models", i, "alias"), f"alias {alias!r} is listed twice"))
    for field_name, listed in (("aliases", policy.local.aliases), ("first", policy.local.first)):
        for i, alias in enumerate(listed):
            if alias not in aliases:
                problems.append((("local", field_name, i), f"{alias!r} is not in models"))
    for field_path, listed in (
        (("local", "first"), policy.local.first),
        (("local", "cascade", "aliases"), policy.local.cascade.aliases),
    ):
        for i, alias in enumerate(listed):
            if alias not in policy.local.aliases:
                problems.append(((*field_path, i), f"{alias!r} is not in local.aliases"))
    for i, key in enumerate(policy.api_keys):
        if key in policy.api_keys[:i]:
            problems.append((("api_keys", i), "key hash listed twice"))
    experiments = policy.experiments
    for e, experiment in enumerate(experiments):
        earlier = experiments[:e]
        if any(x.name == experiment.name for x in earlier):
            problems.append((("experiments", e, "name"), f"{experiment.name!r} is listed twice"))
        if any(x.applies_to == experiment.applies_to for x in earlier):
            problems.append(
                (
                    ("experiments", e, "applies_to"),
                    f"{experiment.applies_to!r} is already split by another experiment",
                )
            )
        if experiment.applies_to not in aliases:
            problems.append(
                (("experiments", e, "applies_to"), f"{experiment.applies_to!r} is not in models")
            )
        for a, arm in enumerate(experiment.arms):
            if arm.alias not in aliases:
                problems.append(
                    (("experiments", e, "arms", a, "alias"), f"{arm.alias!r} is not in models")
                )
    return problems


def _load(path: Path) -> tuple[TenantPolicy, dict[FieldPath, int]]:
    file = str(path)
    data, lines = parse_yaml(read_config_text(path), file)
    policy = validate(TenantPolicy, data, lines, file)
    raise_if_problems(file, lines, _field_problems(policy, path.stem))
    return policy, lines


def load_policy_file(path: Path) -> TenantPolicy:
    return _load(path)[0]


def _unlistable(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such directory"
    if isinstance(exc, NotADirectoryError):
        return "not a directory"
    return f"cannot list the directory: {exc.strerror or exc}"


def load_policy_dir(directory: Path) -> PolicySet:
    result = PolicySet()
    try:
        entries = list(directory.iterdir())
    except OSError as exc:
        result.problems.append(ConfigProblem(str(directory), None, "", _unlistable(exc)))
        return result
    owners: dict[str, str] = {}
    for path in sorted(entry for entry in entries if entry.name.endswith(".yaml")):
        try:
            policy, lines = _load(path)
        except ConfigInvalid as invalid:
            result.problems.extend(invalid.problems)
            continue
        shared = [i for i, key in enumerate(policy.api_keys) if key in owners]
        if shared:
            where: FieldPath = ("api_keys", shared[0])
            owner = owners[policy.api_keys[shared[0]]]
            result.problems.append(
                ConfigProblem(
                    str(path),
                    line_of(where, lines),
                    dotted(where),
                    f"this key hash is already used by tenant {owner!r}",
                )
            )
            continue
        owners.update(dict.fromkeys(policy.api_keys, policy.tenant))
        result.policies[policy.tenant] = policy
        result.files[policy.tenant] = path
    return result
