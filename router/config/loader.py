"""Reads a node config file and the secrets it names from the environment.

The only module that reads the environment: endpoints name the variable holding their key, and the
keys live in `Secrets`, which is never logged, traced or serialised.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from router.config.model import NodeConfig
from router.config.yaml_source import (
    FieldPath,
    parse_yaml,
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

    @property
    def policy_directory(self) -> Path | None:
        directory = self.config.policies.directory
        if directory is None:
            return None
        return (self.path.parent / directory).resolve()


def _reference_problems(config: NodeConfig) -> list[tuple[FieldPath, str]]:
    problems: list[tuple[FieldPath, str]] = []
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
    text: str, file: str, environ: Mapping[str, str] | None = None
) -> LoadedNodeConfig:
    data, lines = parse_yaml(text, file)
    config = validate(NodeConfig, data, lines, file)
    secrets, secret_problems = _read_secrets(config, os.environ if environ is None else environ)
    raise_if_problems(file, lines, _reference_problems(config) + secret_problems)
    return LoadedNodeConfig(config, secrets, Path(file))


def load_node_config(path: Path, environ: Mapping[str, str] | None = None) -> LoadedNodeConfig:
    return parse_node_config(read_config_text(path), str(path), environ)
