"""A language pack from an archive (.tar.gz, .tgz, .tar, .zip), extracted member by member
into a folder. Anything that could write outside that folder or fill the disk is refused,
naming the member: absolute paths, `..` components, symbolic and hard links, device files
and FIFOs, too many members, too many bytes once expanded (a zip or gzip bomb).

Plain Python: no Django. The onboard command extracts into a fresh folder, then onboards
the folder as it would any pack.
"""
from __future__ import annotations

import gzip
import os
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

# The Lua pack is 127 files and 0.7 MB; these leave room for packs a hundred times larger.
MAX_MEMBERS = 5_000
MAX_TOTAL_BYTES = 100 << 20
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
_CHUNK = 1 << 16


class ArchiveRefused(ValueError):
    """An archive that will not be extracted, with the member at fault (None: the archive)."""

    def __init__(self, archive: Path | str, member: str | None, reason: str):
        self.archive, self.member, self.reason = str(archive), member, reason
        where = f"{self.archive}: member {member!r}" if member is not None else self.archive
        super().__init__(f"{where}: {reason}")


def is_archive(path: Path | str) -> bool:
    return str(path).lower().endswith(ARCHIVE_SUFFIXES)


def extract_pack(archive_path: Path | str, dest_dir: Path | str, *, max_members: int = MAX_MEMBERS,
                 max_bytes: int = MAX_TOTAL_BYTES) -> Path:
    """Extract the archive into `dest_dir` (absent or empty) and return the pack's root: the
    folder itself, or its single top-level folder when that holds the language.toml.

    Regular files and folders only; files are written 0644 whatever the archive says (no
    set-uid bits, nothing executable). On ArchiveRefused, whatever was already extracted is
    removed again: `dest_dir` is left empty.
    """
    archive, dest = Path(archive_path), Path(dest_dir)
    if not is_archive(archive):
        raise ArchiveRefused(archive, None, f"not an archive: the name must end in {', '.join(ARCHIVE_SUFFIXES)}")
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise ValueError(f"{dest} is not empty: extract into a fresh folder")
    try:
        budget = _Budget(archive, max_members, max_bytes)
        if archive.name.lower().endswith(".zip"):
            _extract_zip(archive, dest, budget)
        else:
            _extract_tar(archive, dest, budget)
        return _pack_root(archive, dest)
    except BaseException:
        for child in dest.iterdir():
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        raise


class _Budget:
    """Members and bytes so far, against the limits; also refuses a name seen twice."""

    def __init__(self, archive: Path, max_members: int, max_bytes: int):
        self.archive, self.max_members, self.max_bytes = archive, max_members, max_bytes
        self.members, self.bytes, self.seen = 0, 0, set()

    def admit(self, name: str, parts: tuple[str, ...]) -> None:
        self.members += 1
        if self.members > self.max_members:
            raise ArchiveRefused(self.archive, name, f"too many members: more than {self.max_members}")
        if parts and parts in self.seen:  # "." and "./" both name the destination itself
            raise ArchiveRefused(self.archive, name, "appears twice in the archive")
        self.seen.add(parts)

    def spend(self, name: str, n: int) -> None:
        self.bytes += n
        if self.bytes > self.max_bytes:
            raise ArchiveRefused(self.archive, name, f"the archive expands to more than {self.max_bytes} bytes")


def _safe_parts(archive: Path, name: str) -> tuple[str, ...]:
    """The member's path as components under the destination, or ArchiveRefused."""
    if not name or "\x00" in name:
        raise ArchiveRefused(archive, name, "has an empty or NUL-bearing name")
    unified = name.replace("\\", "/")
    if unified.startswith("/") or (len(unified) > 1 and unified[1] == ":"):
        raise ArchiveRefused(archive, name, "has an absolute path")
    parts = tuple(p for p in PurePosixPath(unified).parts if p not in ("", "."))
    if ".." in parts:
        raise ArchiveRefused(archive, name, "has a '..' component: it would land outside the pack")
    return parts


def _target(archive: Path, dest: Path, name: str, parts: tuple[str, ...]) -> Path:
    target = dest.joinpath(*parts)
    # Belt and braces: nothing we write is a link, but the folder may not be ours alone.
    if not target.resolve().is_relative_to(dest.resolve()):
        raise ArchiveRefused(archive, name, "resolves outside the destination")
    return target


def _write(archive: Path, dest: Path, name: str, parts: tuple[str, ...], source, budget: _Budget) -> None:
    target = _target(archive, dest, name, parts)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(_CHUNK):
            budget.spend(name, len(chunk))
            out.write(chunk)


def _kind_refusal(mode: int) -> str | None:
    if stat.S_ISLNK(mode):
        return "is a symbolic link"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device file"
    if stat.S_ISFIFO(mode):
        return "is a FIFO"
    if stat.S_ISSOCK(mode):
        return "is a socket"
    return None


def _extract_tar(archive: Path, dest: Path, budget: _Budget) -> None:
    # Stream mode, one pass: a member is checked, then written, before the next is read, so
    # a bomb is stopped as soon as it passes the limit instead of after being walked whole.
    compressed = archive.name.lower().endswith((".tar.gz", ".tgz"))
    raw = _CappedReader(archive, gzip.open(archive, "rb") if compressed else open(archive, "rb"), budget)
    try:
        with tarfile.open(fileobj=raw, mode="r|") as tar:
            for member in tar:
                raw.current = member.name
                parts = _safe_parts(archive, member.name)
                if member.issym():
                    raise ArchiveRefused(archive, member.name, f"is a symbolic link (to {member.linkname!r})")
                if member.islnk():
                    raise ArchiveRefused(archive, member.name, f"is a hard link (to {member.linkname!r})")
                if member.ischr() or member.isblk():
                    raise ArchiveRefused(archive, member.name, "is a device file")
                if member.isfifo():
                    raise ArchiveRefused(archive, member.name, "is a FIFO")
                if not (member.isfile() or member.isdir()):
                    raise ArchiveRefused(archive, member.name, "is neither a regular file nor a folder")
                budget.admit(member.name, parts)
                if not parts:
                    continue  # "./" itself
                if member.isdir():
                    _target(archive, dest, member.name, parts).mkdir(mode=0o755, parents=True, exist_ok=True)
                    continue
                if member.size > budget.max_bytes - budget.bytes:
                    raise ArchiveRefused(archive, member.name, f"the archive expands to more than {budget.max_bytes} "
                                                              f"bytes (this member alone is {member.size})")
                _write(archive, dest, member.name, parts, tar.extractfile(member), budget)
    except (tarfile.TarError, EOFError, OSError) as exc:
        if isinstance(exc, FileExistsError):
            raise ArchiveRefused(archive, raw.current, "collides with another member") from None
        raise ArchiveRefused(archive, raw.current, f"not a readable tar archive: {exc}") from None
    finally:
        raw.close()


class _CappedReader:
    """The archive's bytes as tarfile reads them, decompressed: refuses to hand out more
    than the budget plus the headers' share, so a gzip bomb cannot expand in memory (tar's
    pax headers are read whole) or on disk."""

    def __init__(self, archive: Path, fileobj, budget: _Budget):
        self.archive, self.fileobj, self.budget = archive, fileobj, budget
        self.limit = budget.max_bytes + 1024 * (budget.max_members + 2)
        self.read_so_far, self.current = 0, None

    def read(self, size: int = -1) -> bytes:
        data = self.fileobj.read(size)
        self.read_so_far += len(data)
        if self.read_so_far > self.limit:
            raise ArchiveRefused(self.archive, self.current,
                                 f"the archive expands to more than {self.budget.max_bytes} bytes")
        return data

    def close(self) -> None:
        self.fileobj.close()


def _extract_zip(archive: Path, dest: Path, budget: _Budget) -> None:
    current = None
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            # The central directory names every member up front: check them all before writing.
            declared = 0
            for info in infos:
                current = info.filename
                parts = _safe_parts(archive, info.filename)
                mode = info.external_attr >> 16
                refusal = _kind_refusal(mode) if info.create_system == 3 else None
                if refusal:
                    raise ArchiveRefused(archive, info.filename, refusal)
                if info.flag_bits & 0x1:
                    raise ArchiveRefused(archive, info.filename, "is encrypted")
                budget.admit(info.filename, parts)
                declared += info.file_size
                if declared > budget.max_bytes:
                    raise ArchiveRefused(archive, info.filename,
                                         f"the archive expands to more than {budget.max_bytes} bytes")
            for info in infos:
                current = info.filename
                parts = _safe_parts(archive, info.filename)
                if not parts:
                    continue
                if info.is_dir():
                    _target(archive, dest, info.filename, parts).mkdir(mode=0o755, parents=True, exist_ok=True)
                    continue
                # zipfile stops at the declared size, so a member that lies about it cannot
                # expand past the budget either.
                with zf.open(info) as source:
                    _write(archive, dest, info.filename, parts, source, budget)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
        if isinstance(exc, FileExistsError):
            raise ArchiveRefused(archive, current, "collides with another member") from None
        raise ArchiveRefused(archive, current, f"not a readable zip archive: {exc}") from None


def _pack_root(archive: Path, dest: Path) -> Path:
    if (dest / "language.toml").is_file():
        return dest
    entries = list(dest.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and (entries[0] / "language.toml").is_file():
        return entries[0]
    raise ArchiveRefused(archive, "language.toml",
                         "missing: the archive holds no language.toml at its top or in a single top-level folder")
