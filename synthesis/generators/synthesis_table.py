"""The optional `[synthesis]` table of a pack's language.toml: the few templates a generator
cannot derive from the grammar or the lexicon (how to print a value, how to open a scope).

`params["synthesis"]` overrides the pack, key by key, so a caller (or a test) can supply a
template the pack does not have yet. A generator that needs a missing key skips the work
that needs it rather than guessing a language.
"""
from __future__ import annotations

import re

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def synthesis_config(pack, params: dict | None) -> dict:
    config = dict(getattr(pack, "synthesis", None) or {})
    override = (params or {}).get("synthesis") or {}
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


def fill(template: str, **values: str) -> str:
    """str.format without tripping over braces that belong to the language ({} tables)."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)
