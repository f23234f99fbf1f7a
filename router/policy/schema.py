"""The JSON Schema of a tenant policy file, generated from the typed model.

Committed as `policies/schema.json` so editors validate and complete policy files; a test fails
when the committed file and the model drift apart (regenerate with `edge-router policy schema`).
"""

from __future__ import annotations

import json

from router.policy.model import TenantPolicy

SCHEMA_ID = "https://edge-inference-router.dev/schemas/tenant-policy.json"


def policy_schema_json() -> str:
    schema = TenantPolicy.model_json_schema()
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
