"""A pack's [triage] table becomes the language's triage rules when it is onboarded."""
from __future__ import annotations

import pytest
from django.db import transaction

from curation.actions import _store_pack
from curation.packs import read_pack
from tests.conftest import LUA_PACK

pytestmark = pytest.mark.django_db


def _onboard(root):
    # The sandbox checks of onboarding are tests/curation/test_onboard.py's; the rules are
    # read by read_pack and stored by _store_pack.
    with transaction.atomic():
        return _store_pack(read_pack(root))


def _with_triage(pack_root, table: str) -> None:
    path = pack_root / "language.toml"
    path.write_text(path.read_text() + "\n" + table)


def test_pack_with_a_triage_table_onboards_with_its_rules_in_spec(lua_pack_copy):
    _with_triage(lua_pack_copy, '[triage.near_duplicates]\nthreshold = 0.9\n\n'
                                '[triage.length]\nmax_lines = 120\naction = "review"\n\n[triage]\nparse = true\n')
    language = _onboard(lua_pack_copy).language
    language.refresh_from_db()
    assert language.spec["triage"] == {"near_duplicates": {"threshold": 0.9},
                                       "length": {"max_lines": 120, "action": "review"}, "parse": {"on": True}}


def test_lua_pack_keeps_the_default_rules():
    assert "triage" not in _onboard(LUA_PACK).language.spec


def test_edited_triage_table_updates_the_language(lua_pack_copy):
    _with_triage(lua_pack_copy, "[triage.near_duplicates]\nthreshold = 0.9\n")
    _onboard(lua_pack_copy)
    path = lua_pack_copy / "language.toml"
    path.write_text(path.read_text().replace("threshold = 0.9", "threshold = 0.95"))
    report = _onboard(lua_pack_copy)
    assert report.changes["language"]["updated"] == 1
    assert report.language.spec["triage"] == {"near_duplicates": {"threshold": 0.95}}


def test_reonboarding_a_pack_without_a_table_keeps_rules_set_in_the_admin(lua_pack_copy):
    language = _onboard(lua_pack_copy).language
    language.spec = {**language.spec, "triage": {"length": {"max_lines": 50}}}
    language.save(update_fields=["spec"])
    report = _onboard(lua_pack_copy)
    language.refresh_from_db()
    assert language.spec["triage"] == {"length": {"max_lines": 50}}
    assert not report.changed


def test_pack_table_replaces_rules_set_in_the_admin(lua_pack_copy):
    language = _onboard(lua_pack_copy).language
    language.spec = {**language.spec, "triage": {"length": {"max_lines": 50}}}
    language.save(update_fields=["spec"])
    _with_triage(lua_pack_copy, "[triage.exact_duplicates]\naction = \"review\"\n")
    language = _onboard(lua_pack_copy).language
    language.refresh_from_db()
    assert language.spec["triage"] == {"exact_duplicates": {"action": "review"}}

