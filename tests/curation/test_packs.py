"""Reading a pack: a broken one is refused with the file, line and field that are wrong."""
from __future__ import annotations

import pytest

from curation.packs import read_pack
from sandbox.pack import PackError, load_pack
from tests.conftest import LUA_PACK


def test_lua_pack_reads_with_its_counts():
    content = read_pack(LUA_PACK)
    summary = content.summary()
    assert summary["sections"] >= 30
    assert summary["examples"] >= 12
    assert sum(summary["tasks"].values()) >= 60
    assert all(summary["tasks"][split] > 0 for split in ("train", "dev", "test"))


def test_sections_are_anchored_by_their_numbers():
    content = read_pack(LUA_PACK)
    anchors = [s.anchor for s in content.sections]
    assert len(anchors) == len(set(anchors))
    assert all(a.startswith("§") and a[1:].replace(".", "").isdigit() for a in anchors)
    assert all(s.title and s.source_file.startswith("docs/") for s in content.sections)


def test_missing_language_toml_is_named(lua_pack_copy):
    (lua_pack_copy / "language.toml").unlink()
    with pytest.raises(PackError, match="language.toml.*missing"):
        read_pack(lua_pack_copy)


def test_broken_toml_names_the_line(lua_pack_copy):
    path = lua_pack_copy / "language.toml"
    lines = path.read_text().splitlines()
    lines[3] = 'extension = ".lua'  # an unterminated string on line 4
    path.write_text("\n".join(lines))
    with pytest.raises(PackError) as caught:
        read_pack(lua_pack_copy)
    assert caught.value.line == 4
    assert "language.toml:4" in str(caught.value)


def test_regex_that_does_not_compile_names_its_field(lua_pack_copy):
    path = lua_pack_copy / "language.toml"
    path.write_text(path.read_text().replace("out_of_memory = 'not enough memory'", "out_of_memory = 'not (enough'"))
    with pytest.raises(PackError) as caught:
        load_pack(lua_pack_copy)
    assert caught.value.field == "errors.out_of_memory"
    assert caught.value.line is not None


def test_runner_without_file_placeholder_is_refused(lua_pack_copy):
    path = lua_pack_copy / "language.toml"
    path.write_text(path.read_text().replace('command = ["lua5.4", "{file}"]', 'command = ["lua5.4"]'))
    with pytest.raises(PackError, match=r"runner\.command"):
        load_pack(lua_pack_copy)


def test_missing_docs_folder_is_refused(lua_pack_copy):
    for doc in (lua_pack_copy / "docs").glob("*.md"):
        doc.unlink()
    with pytest.raises(PackError, match="docs"):
        read_pack(lua_pack_copy)


def test_duplicate_anchor_names_both_places(lua_pack_copy):
    first = sorted((lua_pack_copy / "docs").glob("*.md"))[0]
    first.write_text(first.read_text() + "\n## 1.1 Again\n\nDuplicate.\n")
    with pytest.raises(PackError, match="§1.1 is also used at"):
        read_pack(lua_pack_copy)


def test_task_with_malformed_tests_names_file_and_field(lua_pack_copy):
    task = sorted((lua_pack_copy / "tasks" / "train").glob("*.toml"))[0]
    text = task.read_text()
    start = text.index("tests = '''")
    task.write_text(text[:start] + "tests = '''\n[{\"args\": [1], \"expect\": 2}]\n'''\n")
    with pytest.raises(PackError) as caught:
        read_pack(lua_pack_copy)
    assert caught.value.field == "tests"
    assert task.name in caught.value.path
    assert "exactly the keys" in caught.value.message


def test_non_utf8_example_names_the_line(lua_pack_copy):
    example = sorted((lua_pack_copy / "examples").glob("*.lua"))[0]
    example.write_bytes(b"print(1)\nprint('\xff')\n")
    with pytest.raises(PackError) as caught:
        read_pack(lua_pack_copy)
    assert caught.value.line == 2
    assert "UTF-8" in caught.value.message


def _with_triage(pack_root, table: str) -> None:
    path = pack_root / "language.toml"
    path.write_text(path.read_text() + "\n" + table)


def test_triage_table_is_read_with_the_pack(lua_pack_copy):
    _with_triage(lua_pack_copy, '[triage.near_duplicates]\nthreshold = 0.9\n\n[triage]\nparse = true\n')
    assert read_pack(lua_pack_copy).pack.triage == {"near_duplicates": {"threshold": 0.9}, "parse": True}


def test_misspelt_triage_setting_is_refused_with_file_line_and_field(lua_pack_copy):
    _with_triage(lua_pack_copy, '[triage.near_duplicates]\naction = "review"\ntreshold = 0.9\n')
    line = len((lua_pack_copy / "language.toml").read_text().splitlines())  # the last line
    with pytest.raises(PackError) as caught:
        read_pack(lua_pack_copy)
    assert caught.value.field == "triage.near_duplicates.treshold"
    assert caught.value.line == line
    assert caught.value.path.endswith("language.toml") and "treshold" in caught.value.message
    assert f"language.toml:{line} [triage.near_duplicates.treshold]" in str(caught.value)


def test_unknown_triage_check_is_refused_naming_it_and_the_known_ones(lua_pack_copy):
    _with_triage(lua_pack_copy, "[triage]\nnear_dupes = false\n")
    with pytest.raises(PackError) as caught:
        read_pack(lua_pack_copy)
    assert caught.value.field == "triage.near_dupes" and caught.value.line is not None
    assert "unknown triage check 'near_dupes'" in caught.value.message and "near_duplicates" in caught.value.message


@pytest.mark.parametrize("table, field, says", [
    ('[triage.length]\naction = "drop"\n', "triage.length.action", "must be 'reject' or 'review'"),
    ('[triage.near_duplicates]\nthreshold = "high"\n', "triage.near_duplicates.threshold", "must be a number"),
    ("[triage]\nlength = { max_lines = 12.5 }\n", "triage.length.max_lines", "whole number"),
    ("[triage]\nsecrets = 3\n", "triage.secrets", "table of settings"),
    ("[triage.near_duplicates]\nthreshold = 7\n", "triage.near_duplicates.threshold", "at most 1"),
    ("[triage.near_duplicates]\nnum_perm = 0\n", "triage.near_duplicates.num_perm", "at least 1"),
    ("[triage.length]\nmax_lines = -5\n", "triage.length.max_lines", "at least 1"),
    ("[triage.perplexity]\nmax = 0\n", "triage.perplexity.max", "more than 0"),
])
def test_bad_triage_value_is_refused_with_its_field(lua_pack_copy, table, field, says):
    _with_triage(lua_pack_copy, table)
    with pytest.raises(PackError) as caught:
        read_pack(lua_pack_copy)
    assert caught.value.field == field and says in caught.value.message
    assert caught.value.line is not None
