"""Onboarding a pack: checks run in the real sandbox; a broken pack writes nothing."""
from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from curation.models import DocSection, Example, Language, Task
from tests.conftest import LUA_PACK


def _counts():
    return (Language.objects.count(), DocSection.objects.count(), Example.objects.count(), Task.objects.count())


@pytest.mark.django_db
def test_onboard_prints_the_packs_counts(capsys):
    call_command("onboard", str(LUA_PACK))
    out = capsys.readouterr().out
    assert "Lua 5.4:" in out and "doc sections" in out and "train" in out and "test" in out
    language = Language.objects.get(slug="lua")
    assert language.sections.count() >= 30
    assert language.examples.count() >= 12
    assert set(language.tasks.values_list("split", flat=True)) == {"train", "dev", "test"}


@pytest.mark.django_db
def test_second_onboard_changes_nothing(capsys):
    call_command("onboard", str(LUA_PACK))
    before = _counts()
    capsys.readouterr()
    call_command("onboard", str(LUA_PACK))
    assert "unchanged" in capsys.readouterr().out
    assert _counts() == before


@pytest.mark.django_db
def test_edited_pack_updates_in_place(lua_pack_copy, capsys):
    call_command("onboard", str(lua_pack_copy))
    before = _counts()
    task = sorted((lua_pack_copy / "tasks" / "dev").glob("*.toml"))[0]
    task.write_text(task.read_text().replace('category = "', 'category = "edited-', 1))
    capsys.readouterr()
    call_command("onboard", str(lua_pack_copy))
    assert "tasks: 1 updated" in capsys.readouterr().out
    assert _counts() == before
    assert Task.objects.get(name=task.stem).category.startswith("edited-")


@pytest.mark.django_db
def test_example_that_does_not_parse_is_refused_and_nothing_written(lua_pack_copy):
    (lua_pack_copy / "examples" / "broken.lua").write_text("local function f(\n  return 1\nend\n")
    with pytest.raises(CommandError) as caught:
        call_command("onboard", str(lua_pack_copy))
    assert "examples/broken.lua" in str(caught.value)
    assert "nothing was written" in str(caught.value)
    assert _counts() == (0, 0, 0, 0)


@pytest.mark.django_db
def test_task_whose_reference_fails_is_refused_and_nothing_written(lua_pack_copy):
    task = sorted((lua_pack_copy / "tasks" / "test").glob("*.toml"))[0]
    text = task.read_text()
    wrong_start = text.index("wrong = ")
    ref_start = text.index("reference = ")
    # The known-wrong solution becomes the reference: it must fail its own tests.
    wrong_body = text[wrong_start + len("wrong = "):].split("'''", 2)[1]
    task.write_text(text[:ref_start] + "reference = '''" + wrong_body + "'''\n" + text[text.index("tests = "):])
    with pytest.raises(CommandError) as caught:
        call_command("onboard", str(lua_pack_copy))
    assert task.name in str(caught.value) and "reference" in str(caught.value)
    assert _counts() == (0, 0, 0, 0)


@pytest.mark.django_db
def test_refused_reonboard_leaves_previous_version_intact(lua_pack_copy):
    call_command("onboard", str(lua_pack_copy))
    before = _counts()
    (lua_pack_copy / "language.toml").write_text("name = [broken")
    with pytest.raises(CommandError, match="language.toml:1"):
        call_command("onboard", str(lua_pack_copy))
    assert _counts() == before


@pytest.mark.django_db
def test_runner_that_does_not_exist_is_refused(lua_pack_copy):
    path = lua_pack_copy / "language.toml"
    path.write_text(path.read_text().replace('command = ["lua5.4", "{file}"]', 'command = ["no-such-lua", "{file}"]'))
    with pytest.raises(CommandError, match="does not run|sandbox_error|reference"):
        call_command("onboard", str(lua_pack_copy))
    assert _counts() == (0, 0, 0, 0)
