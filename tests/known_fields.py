"""The check that what an official client's pydantic types read holds no field they do not know:
those types keep an unknown field in `model_extra` rather than refuse it, so validating alone
would pass a translation that writes a field the API does not have."""

from __future__ import annotations

from pydantic import BaseModel


def assert_known_fields_only(model: object) -> None:
    """`model`, and every model or list of models in its set fields, has no extra field."""
    if isinstance(model, list):
        for item in model:
            assert_known_fields_only(item)
    elif isinstance(model, BaseModel):
        assert not model.model_extra, model
        for name in model.model_fields_set:
            assert_known_fields_only(getattr(model, name))
