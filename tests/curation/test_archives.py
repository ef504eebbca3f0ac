"""Packs from archives: a good one onboards; one that could write outside its folder, link
to something else or fill the disk is refused naming the member, and nothing is written."""
from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from curation.archives import ArchiveRefused, extract_pack
from curation.models import DocSection, Example, Language, Task
from tests.conftest import LUA_PACK


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], *, with_pack: bool = True) -> Path:
    """A .tar.gz of the Lua pack (under lua/) followed by `members`."""
    with tarfile.open(path, "w:gz") as tar:
        if with_pack:
            tar.add(LUA_PACK, arcname="lua")
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _info(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, linkname, 0o644
    return info


def _zip(path: Path, members: list[tuple[zipfile.ZipInfo | str, bytes]], *, with_pack: bool = True) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        if with_pack:
            for file in sorted(LUA_PACK.rglob("*")):
                if file.is_file():
                    zf.write(file, "lua/" + file.relative_to(LUA_PACK).as_posix())
        for info, data in members:
            zf.writestr(info, data)
    return path


def _symlink_zipinfo(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # unix: the mode bits below are read
    info.external_attr = (0o120777 << 16)
    return info


def _files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*")} if folder.exists() else set()


# ---------------------------------------------------------------- extract_pack, the pure part

def test_tar_gz_of_a_pack_extracts_to_its_root(tmp_path):
    root = extract_pack(_tar(tmp_path / "lua.tar.gz", []), tmp_path / "out")
    assert root == tmp_path / "out" / "lua"
    assert (root / "language.toml").read_bytes() == (LUA_PACK / "language.toml").read_bytes()
    assert len([p for p in root.rglob("*") if p.is_file()]) == len([p for p in LUA_PACK.rglob("*") if p.is_file()])


def test_zip_of_a_pack_extracts_to_its_root(tmp_path):
    root = extract_pack(_zip(tmp_path / "lua.zip", []), tmp_path / "out")
    assert (root / "language.toml").is_file() and (root / "docs").is_dir()


BAD_TARS = {
    "dot-dot": ([(_info("lua/../../evil.txt"), b"pwned")], "lua/../../evil.txt", "'..' component"),
    "leading-dot-dot": ([(_info("../evil.txt"), b"pwned")], "../evil.txt", "'..' component"),
    "absolute": ([(_info("/tmp/scriptorium-evil.txt"), b"pwned")], "/tmp/scriptorium-evil.txt", "absolute path"),
    "symlink": ([(_info("lua/docs/secret.md", tarfile.SYMTYPE, "/etc/passwd"), None)], "lua/docs/secret.md",
                "symbolic link"),
    "hardlink": ([(_info("lua/docs/secret.md", tarfile.LNKTYPE, "/etc/passwd"), None)], "lua/docs/secret.md",
                 "hard link"),
    "device": ([(_info("lua/null", tarfile.CHRTYPE), None)], "lua/null", "device file"),
    "fifo": ([(_info("lua/pipe", tarfile.FIFOTYPE), None)], "lua/pipe", "FIFO"),
}


@pytest.mark.parametrize("case", sorted(BAD_TARS))
def test_bad_tar_member_is_refused_by_name_and_nothing_is_written(tmp_path, case):
    members, name, reason = BAD_TARS[case]
    archive = _tar(tmp_path / "bad.tar.gz", members)
    dest = tmp_path / "work" / "out"
    with pytest.raises(ArchiveRefused) as caught:
        extract_pack(archive, dest)
    assert caught.value.member == name and reason in str(caught.value) and repr(name) in str(caught.value)
    assert _files_under(dest) == set(), "the refused archive left files behind"
    assert not (tmp_path / "work" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()
    assert not Path("/tmp/scriptorium-evil.txt").exists()


def test_zip_with_dot_dot_member_is_refused_before_anything_is_written(tmp_path):
    archive = _zip(tmp_path / "bad.zip", [("lua/../../evil.txt", b"pwned")])
    dest = tmp_path / "work" / "out"
    with pytest.raises(ArchiveRefused, match=r"'lua/\.\./\.\./evil\.txt': has a '\.\.' component"):
        extract_pack(archive, dest)
    assert _files_under(dest) == set() and not (tmp_path / "evil.txt").exists()


def test_zip_with_absolute_member_is_refused(tmp_path):
    archive = _zip(tmp_path / "bad.zip", [("/tmp/scriptorium-evil.txt", b"pwned")])
    with pytest.raises(ArchiveRefused, match="absolute path") as caught:
        extract_pack(archive, tmp_path / "out")
    assert caught.value.member == "/tmp/scriptorium-evil.txt"
    assert not Path("/tmp/scriptorium-evil.txt").exists()


def test_zip_with_backslash_dot_dot_member_is_refused(tmp_path):
    archive = _zip(tmp_path / "bad.zip", [("lua\\..\\..\\evil.txt", b"pwned")])
    with pytest.raises(ArchiveRefused, match=r"'\.\.' component") as caught:
        extract_pack(archive, tmp_path / "out")
    assert caught.value.member == "lua\\..\\..\\evil.txt"


def test_zip_with_symlink_member_is_refused(tmp_path):
    archive = _zip(tmp_path / "bad.zip", [(_symlink_zipinfo("lua/docs/secret.md"), b"/etc/passwd")])
    with pytest.raises(ArchiveRefused, match="symbolic link") as caught:
        extract_pack(archive, tmp_path / "out")
    assert caught.value.member == "lua/docs/secret.md"
    assert _files_under(tmp_path / "out") == set()


def test_archive_with_too_many_members_is_refused(tmp_path):
    archive = _tar(tmp_path / "many.tar.gz", [(_info(f"lua/junk/{i}.txt"), b"x") for i in range(50)])
    with pytest.raises(ArchiveRefused, match="too many members: more than 100") as caught:
        extract_pack(archive, tmp_path / "out", max_members=100)
    assert caught.value.member.startswith("lua/")
    assert _files_under(tmp_path / "out") == set()


def test_zip_bomb_is_refused_by_its_expanded_size(tmp_path):
    # 64 MB of zeros compress to about 64 KB.
    archive = _zip(tmp_path / "bomb.zip", [("lua/docs/zeros.md", bytes(64 << 20))])
    assert archive.stat().st_size < 1 << 20
    with pytest.raises(ArchiveRefused, match="expands to more than 8388608 bytes") as caught:
        extract_pack(archive, tmp_path / "out", max_bytes=8 << 20)
    assert caught.value.member == "lua/docs/zeros.md"
    assert _files_under(tmp_path / "out") == set()


def test_gzip_bomb_is_refused_while_streaming(tmp_path):
    archive = _tar(tmp_path / "bomb.tar.gz", [(_info("lua/docs/zeros.md"), bytes(64 << 20))])
    assert archive.stat().st_size < 1 << 20
    with pytest.raises(ArchiveRefused, match="expands to more than 8388608 bytes") as caught:
        extract_pack(archive, tmp_path / "out", max_bytes=8 << 20)
    assert caught.value.member == "lua/docs/zeros.md"
    assert _files_under(tmp_path / "out") == set()


def test_archive_without_language_toml_is_refused(tmp_path):
    archive = _tar(tmp_path / "empty.tar.gz", [(_info("notes/readme.md"), b"hello")], with_pack=False)
    with pytest.raises(ArchiveRefused, match="no language.toml"):
        extract_pack(archive, tmp_path / "out")


def test_file_that_is_not_an_archive_is_refused(tmp_path):
    fake = tmp_path / "lua.tar.gz"
    fake.write_bytes(b"this is not gzip")
    with pytest.raises(ArchiveRefused, match="not a readable tar archive"):
        extract_pack(fake, tmp_path / "out")


# ---------------------------------------------------------------- manage.py onboard <archive>

def _counts():
    return (Language.objects.count(), DocSection.objects.count(), Example.objects.count(), Task.objects.count())


@pytest.mark.django_db
def test_onboard_accepts_a_pack_archive(tmp_path, settings, capsys):
    settings.DATA_DIR = tmp_path / "data"
    archive = _tar(tmp_path / "lua.tar.gz", [])
    call_command("onboard", str(archive))
    assert "Lua 5.4:" in capsys.readouterr().out
    language = Language.objects.get(slug="lua")
    # The pack stays where the language can read it again (synthesis, evaluation).
    assert Path(language.pack_path).is_relative_to(settings.DATA_DIR / "packs")
    assert (Path(language.pack_path) / "language.toml").is_file()
    assert language.sections.count() >= 30 and language.tasks.exists()
    assert [p.name for p in (settings.DATA_DIR / "packs").iterdir()] == [Path(language.pack_path).parent.name]


@pytest.mark.django_db
@pytest.mark.parametrize("case", ["dot-dot", "symlink", "absolute"])
def test_onboard_refuses_a_bad_archive_naming_the_member_and_writes_nothing(tmp_path, settings, case):
    settings.DATA_DIR = tmp_path / "data"
    members, name, reason = BAD_TARS[case]
    archive = _tar(tmp_path / "bad.tar.gz", members)
    with pytest.raises(CommandError) as caught:
        call_command("onboard", str(archive))
    message = str(caught.value)
    assert repr(name) in message and reason in message and "nothing was written" in message
    assert _counts() == (0, 0, 0, 0)
    assert _files_under(settings.DATA_DIR) <= {settings.DATA_DIR / "packs"}, "the refused archive left files behind"
    assert not (tmp_path / "evil.txt").exists() and not (settings.DATA_DIR / "evil.txt").exists()


@pytest.mark.django_db
def test_second_onboard_of_the_same_archive_changes_nothing(tmp_path, settings, capsys):
    settings.DATA_DIR = tmp_path / "data"
    archive = _tar(tmp_path / "lua.tar.gz", [])
    call_command("onboard", str(archive))
    before = _counts()
    capsys.readouterr()
    call_command("onboard", str(archive))
    assert "unchanged" in capsys.readouterr().out and _counts() == before
    assert len(list((settings.DATA_DIR / "packs").iterdir())) == 1


@pytest.mark.django_db
def test_refused_archive_leaves_the_onboarded_language_as_it_was(tmp_path, settings):
    from tests.test_permissions import database_state

    settings.DATA_DIR = tmp_path / "data"
    call_command("onboard", str(_tar(tmp_path / "lua.tar.gz", [])))
    before, folders = database_state(), _files_under(settings.DATA_DIR)
    with pytest.raises(CommandError, match="symbolic link"):
        call_command("onboard", str(_tar(tmp_path / "lua-evil.tar.gz", BAD_TARS["symlink"][0])))
    assert database_state() == before and _files_under(settings.DATA_DIR) == folders


@pytest.mark.django_db
def test_archive_whose_pack_is_refused_keeps_no_folder(tmp_path, settings, lua_pack_copy):
    settings.DATA_DIR = tmp_path / "data"
    (lua_pack_copy / "language.toml").write_text("name = [broken")
    archive = tmp_path / "broken.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(lua_pack_copy, arcname="lua")
    with pytest.raises(CommandError, match=r"nothing was written.*language\.toml:1"):
        call_command("onboard", str(archive))
    assert _counts() == (0, 0, 0, 0)
    assert _files_under(settings.DATA_DIR) <= {settings.DATA_DIR / "packs"}
