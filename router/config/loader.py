"""Reads a node config file and the secrets it names from the environment.

The only module that reads the environment: endpoints name the variable holding their key, and the
keys live in `Secrets`, which is never logged, traced or serialised. A variable that is unset is a
problem for a router about to serve, but only a warning for `edge-router config check`, which
checks a file on a machine (a laptop, CI) that does not hold the production secrets.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from router.config.model import NodeConfig
from router.config.yaml_source import (
    ConfigProblem,
    FieldPath,
    parse_yaml,
    problems_at,
    raise_if_problems,
    read_config_text,
    validate,
)


@dataclass(frozen=True)
class Secrets:
    endpoint_keys: Mapping[str, str] = field(default_factory=dict)
    admin_token: str | None = None
    redis_url: str | None = None  # from `limits.redis.url_env`, when set
    cache_redis_url: str | None = None  # from `cache.shared.redis.url_env`, when set

    def __repr__(self) -> str:
        return (
            f"Secrets(<{len(self.endpoint_keys)} endpoint keys>, <admin token>, <redis url>, "
            "<cache redis url>)"
        )


@dataclass(frozen=True)
class LoadedNodeConfig:
    config: NodeConfig
    secrets: Secrets
    path: Path
    # Loaded with `require_secrets=False` only: each secret variable that is unset, placed at the
    # field naming it. Loaded as for serving, these are problems and the load fails.
    missing_secrets: tuple[ConfigProblem, ...] = ()

    @property
    def policy_directory(self) -> Path | None:
        return _policy_directory(self.config, self.path)


def _policy_directory(config: NodeConfig, config_path: Path) -> Path | None:
    directory = config.policies.directory
    if directory is None:
        return None
    return (config_path.parent / directory).resolve()


def _reference_problems(config: NodeConfig, config_path: Path) -> list[tuple[FieldPath, str]]:
    problems: list[tuple[FieldPath, str]] = []
    policy_directory = _policy_directory(config, config_path)
    if policy_directory is not None and not policy_directory.is_dir():
        state = "is not a directory" if policy_directory.exists() else "does not exist"
        problems.append((("policies", "directory"), f"{policy_directory} {state}"))
    if not config.auth.api_keys and config.policies.directory is None:
        problems.append((("auth", "api_keys"), "give at least one key, or a policies.directory"))
    names = [e.name for e in config.endpoints]
    for i, name in enumerate(names):
        if name in names[:i]:
            problems.append((("endpoints", i, "name"), f"endpoint name {name!r} is used twice"))
    worker_port = config.edge_worker.port
    if config.edge_worker.spawn and not any(
        e.locality == "edge" and e.base_url.port == worker_port for e in config.endpoints
    ):
        message = f"no endpoint of locality `edge` has its base_url on port {worker_port}"
        problems.append((("edge_worker", "port"), message))
    served = {(e.name, m.name) for e in config.endpoints for m in e.models}
    for a, alias in enumerate(config.models):
        if alias.alias in {m.alias for m in config.models[:a]}:
            problems.append((("models", a, "alias"), f"alias {alias.alias!r} is defined twice"))
        for t, target in enumerate(alias.targets):
            where: FieldPath = ("models", a, "targets", t)
            if target.endpoint not in names:
                problems.append(((*where, "endpoint"), f"unknown endpoint {target.endpoint!r}"))
            elif (target.endpoint, target.model) not in served:
                problems.append(
                    (
                        (*where, "model"),
                        f"endpoint {target.endpoint!r} does not list model {target.model!r}",
                    )
                )
    return problems


def _read_secrets(
    config: NodeConfig, environ: Mapping[str, str]
) -> tuple[Secrets, list[tuple[FieldPath, str]]]:
    problems: list[tuple[FieldPath, str]] = []

    def read(variable: str | None, where: FieldPath) -> str | None:
        if variable is None:
            return None
        value = environ.get(variable)
        if not value:
            problems.append((where, f"environment variable {variable} is not set"))
        return value or None

    keys: dict[str, str] = {}
    for i, endpoint in enumerate(config.endpoints):
        key = read(endpoint.api_key_env, ("endpoints", i, "api_key_env"))
        if key is not None:
            keys[endpoint.name] = key
    admin_token = read(config.admin.token_env, ("admin", "token_env"))
    redis_url = None
    if config.limits.backend == "redis":
        redis_url = read(config.limits.redis.url_env, ("limits", "redis", "url_env"))
    cache_redis_url = None
    if config.cache.shared.enabled:
        cache_redis_url = read(
            config.cache.shared.redis.url_env, ("cache", "shared", "redis", "url_env")
        )
    return Secrets(keys, admin_token, redis_url, cache_redis_url), problems


def parse_node_config(
    text: str,
    file: str,
    environ: Mapping[str, str] | None = None,
    *,
    require_secrets: bool = True,
) -> LoadedNodeConfig:
    """`require_secrets=False` reports unset secret variables in `missing_secrets` instead."""
    data, lines = parse_yaml(text, file)
    config = validate(NodeConfig, data, lines, file)
    secrets, missing = _read_secrets(config, os.environ if environ is None else environ)
    problems = _reference_problems(config, Path(file))
    raise_if_problems(file, lines, problems + missing if require_secrets else problems)
    warnings = () if require_secrets else tuple(problems_at(file, lines, missing))
    return LoadedNodeConfig(config, secrets, Path(file), missing_secrets=warnings)


def load_node_config(
    path: Path, environ: Mapping[str, str] | None = None, *, require_secrets: bool = True
) -> LoadedNodeConfig:
    text = read_config_text(path)
    return parse_node_config(text, str(path), environ, require_secrets=require_secrets)
