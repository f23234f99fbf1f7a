"""The tests' one builder of tenant policies: a tenant, its key, its sections.

A tenant `acme` has the key `sk-acme` (`key_of`), stored as its hash as a policy file requires.
`policy_yaml` writes a policy file's text from YAML (or a mapping) of its other sections;
`write_policies` writes one file per tenant; `policy_model` builds the validated model in memory,
for tests that call a stage directly. `admin_policies` reads a running router's policy view and
`policies_until` polls it until a reload has done what a test waits for.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from router.policy.keys import hash_key
from router.policy.model import TenantPolicy

if TYPE_CHECKING:
    from tests.stack import Stack

ONE_MODEL = "models:\n  - alias: gpt-4o-mini\n"
# A policy model needs a key's hash; a stage called directly never checks it.
ANY_KEY_HASH = "sha256:" + "0" * 64


def key_of(tenant: str) -> str:
    return f"sk-{tenant}"


def policy_yaml(
    tenant: str,
    body: str | Mapping[str, Any] = ONE_MODEL,
    *,
    key: str | None = None,
    explain: bool = False,
) -> str:
    """A policy file: the tenant, its key's hash (`sk-<tenant>` unless `key`), then `body`: the
    other sections as YAML text or a mapping. `explain`: `routing.explain: full`, for tests that
    read which endpoints were weighed and failed over from."""
    head = f'tenant: {tenant}\napi_keys: ["{hash_key(key or key_of(tenant))}"]\n'
    text = body if isinstance(body, str) else yaml.safe_dump(dict(body), sort_keys=False)
    if not explain:
        return head + text
    policy = yaml.safe_load(head + text)
    policy.setdefault("routing", {}).setdefault("explain", "full")
    return yaml.safe_dump(policy, sort_keys=False)


def write_policies(
    directory: Path, bodies: Mapping[str, str | Mapping[str, Any]], *, explain: bool = False
) -> Path:
    """One `<tenant>.yaml` per tenant in `directory`; returns the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    for tenant, body in bodies.items():
        text = policy_yaml(tenant, body, explain=explain)
        (directory / f"{tenant}.yaml").write_text(text, encoding="utf-8")
    return directory


def policy_model(tenant: str = "acme", **sections: Any) -> TenantPolicy:
    """The validated policy, in memory: one model alias `m` unless `models` is given."""
    sections.setdefault("models", [{"alias": "m"}])
    return TenantPolicy.model_validate({"tenant": tenant, "api_keys": [ANY_KEY_HASH], **sections})


async def admin_policies(stack: Stack) -> dict[str, Any]:
    """`GET /admin/policies` of the stack's router."""
    result: dict[str, Any] = await stack.admin("/admin/policies")
    return result


async def policies_until(
    stack: Stack, check: Callable[[dict[str, Any]], object], timeout_s: float = 10.0
) -> dict[str, Any]:
    """Poll the admin view until `check` holds; the bound is a safety net, not a speed claim."""
    deadline = time.monotonic() + timeout_s
    while True:
        view = await admin_policies(stack)
        if check(view):
            return view
        if time.monotonic() > deadline:
            raise AssertionError(f"policies never reached the expected state: {view}")
        await asyncio.sleep(0.05)
