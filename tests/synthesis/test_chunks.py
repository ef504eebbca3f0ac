"""A job's triage across its chunks (synthesis.chunks.ChunkTriage), against the dataset."""
from __future__ import annotations

import pytest

from curation.models import Sample
from curation.packs import read_pack
from synthesis.chunks import ChunkTriage
from synthesis.pipeline import Validated
from tests.conftest import LUA_PACK

pytestmark = pytest.mark.django_db

PROGRAM = """local function total(xs)
  local sum = 0
  for _, x in ipairs(xs) do
    sum = sum + x * 2 - 1
  end
  return sum
end
print(total({1, 2, 3, 4, 5}))
"""
RENAMED = PROGRAM.replace("sum", "acc").replace("xs", "values")


def _item(kind: str, code: str) -> Validated:
    return Validated("sample", candidate=None, sample_kind=kind, prompt="", code=code)


def test_an_item_is_a_near_duplicate_of_a_stored_sample_of_its_own_kind_only(lua):
    Sample.objects.create(language=lua, kind="semantic", code=PROGRAM, generator="t", content_hash="stored")
    content = read_pack(LUA_PACK)
    kept, counts = ChunkTriage.for_language(lua, content, {}).filter([_item("syntax", RENAMED)])
    assert len(kept) == 1 and counts["duplicates"] == 0  # a program of another kind
    kept, counts = ChunkTriage.for_language(lua, content, {}).filter([_item("semantic", RENAMED)])
    assert kept == [] and counts["duplicates"] == 1
