"""Loading tenant policy files: every problem in every file, with file, line and field.

`load_policy_dir` reads `*.yaml` in a directory. A file that fails is reported and left out;
the others load, so one tenant's mistake never takes the others down. A key hash listed by two
tenants is reported in both files and authenticates neither until it is fixed, so who owns a key
never depends on file order or on a restart. A directory that is missing or cannot be listed is
one problem, named by its path. Checks that span fields (aliases named by experiments, one
experiment per alias) or files (tenant ids, keys used by two tenants) are made here, after the
schema, so that each can name where it went wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
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
    parsed: int = 0  # files read and parsed this time (the others came from the cache)


@dataclass(frozen=True)
class _ParsedFile:
    """One file's outcome, kept while its size and modification time stay the same."""

    stamp: tuple[int, ...]
    policy: TenantPolicy | None
    lines: dict[FieldPath, int]
    problems: tuple[ConfigProblem, ...]


# Policy files by path, as last parsed: a reload parses only the files that changed (with 1,000
# tenants, parsing them all took 2.1 s).
ParseCache = dict[Path, _ParsedFile]


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


def load_policy_dir(directory: Path, cache: ParseCache | None = None) -> PolicySet:
    """Every policy file of `directory`; with `cache`, files unchanged since they were cached
    are not parsed again, and the cache is brought up to date."""
    result = PolicySet()
    try:
        entries = list(directory.iterdir())
    except OSError as exc:
        result.problems.append(ConfigProblem(str(directory), None, "", _unlistable(exc)))
        return result
    lines_of: dict[str, dict[FieldPath, int]] = {}
    paths = sorted(entry for entry in entries if entry.name.endswith(".yaml"))
    for path in paths:
        parsed = _parsed(path, cache, result)
        result.problems.extend(parsed.problems)
        if parsed.policy is None:
            continue
        result.policies[parsed.policy.tenant] = parsed.policy
        result.files[parsed.policy.tenant] = path
        lines_of[parsed.policy.tenant] = parsed.lines
    if cache is not None:
        for gone in set(cache) - set(paths):
            del cache[gone]
    result.problems.extend(_contested_key_problems(result, lines_of))
    return result


def _parsed(path: Path, cache: ParseCache | None, result: PolicySet) -> _ParsedFile:
    try:
        status = path.stat()
        stamp: tuple[int, ...] = (
            status.st_mtime_ns,
            status.st_ctime_ns,
            status.st_size,
            status.st_ino,
        )
    except OSError:
        stamp = ()  # reading it reports what is wrong
    cached = cache.get(path) if cache is not None else None
    if cached is not None and stamp and cached.stamp == stamp:
        return cached
    result.parsed += 1
    try:
        policy, lines = _load(path)
        parsed = _ParsedFile(stamp, policy, lines, ())
    except ConfigInvalid as invalid:
        parsed = _ParsedFile(stamp, None, {}, tuple(invalid.problems))
    if cache is not None:
        cache[path] = parsed
    return parsed


def contested_keys(policies: Mapping[str, TenantPolicy]) -> frozenset[str]:
    """Key hashes listed by more than one tenant: they authenticate no one until fixed, so which
    tenant a key belongs to never depends on file order or on whether the router restarted."""
    owners: dict[str, set[str]] = {}
    for tenant, policy in policies.items():
        for key in policy.api_keys:
            owners.setdefault(key, set()).add(tenant)
    return frozenset(key for key, tenants in owners.items() if len(tenants) > 1)


def _contested_key_problems(
    loaded: PolicySet, lines_of: Mapping[str, Mapping[FieldPath, int]]
) -> list[ConfigProblem]:
    contested = contested_keys(loaded.policies)
    problems: list[ConfigProblem] = []
    for tenant, policy in loaded.policies.items():
        for index, key in enumerate(policy.api_keys):
            if key not in contested:
                continue
            others = sorted(
                f"{other!r} ({loaded.files[other]})"
                for other, theirs in loaded.policies.items()
                if other != tenant and key in theirs.api_keys
            )
            where: FieldPath = ("api_keys", index)
            problems.append(
                ConfigProblem(
                    str(loaded.files[tenant]),
                    line_of(where, dict(lines_of[tenant])),
                    dotted(where),
                    f"this key hash is also listed by tenant {', '.join(others)}: it "
                    "authenticates no tenant until only one lists it",
                )
            )
    return problems
