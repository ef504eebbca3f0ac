"""Shared fixtures for the training core: a tiny Lua base model built once per session."""
from __future__ import annotations

import pytest

from tests.training.lua_samples import LUA_KEEP_WHOLE, LUA_SNIPPETS


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory):
    """A freshly built tiny base (tokenizer + ~1M-parameter Llama) in a session temp dir."""
    from training.tiny_base import build_tiny_base

    return build_tiny_base(LUA_SNIPPETS, tmp_path_factory.mktemp("tiny-base"), keep_whole=LUA_KEEP_WHOLE, seed=0)


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_base):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_base)
