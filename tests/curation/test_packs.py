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
