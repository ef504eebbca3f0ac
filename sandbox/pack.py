"""The runtime half of a language pack: language.toml parsed into plain values.

Everything that runs or judges a program (runner command, limits, error regexes, the
declarative test compiler) comes from here, so the sandbox, synthesis and evaluation
all read a pack the same way. Docs, examples and tasks are loaded by `curation.packs`.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.limits import Limits


class PackError(ValueError):
    """A pack that cannot be used, with the place that is wrong."""

    def __init__(self, path: Path | str, message: str, *, line: int | None = None, field: str | None = None):
        self.path = str(path)
        self.line = line
        self.field = field
        self.message = message
        where = self.path + (f":{line}" if line else "")
        what = f" [{field}]" if field else ""
        super().__init__(f"{where}{what}: {message}")


@dataclass(frozen=True)
class ErrorLocation:
    line: int | None = None
    column: int | None = None
    type: str = ""
    message: str = ""


@dataclass(frozen=True)
class ErrorSpec:
    location: re.Pattern
    syntax: re.Pattern
    out_of_memory: re.Pattern | None
    types: tuple[tuple[str, re.Pattern], ...]

    def is_syntax_error(self, stderr: str) -> bool:
        return bool(self.syntax.search(stderr))

    def is_out_of_memory(self, stderr: str) -> bool:
        return bool(self.out_of_memory and self.out_of_memory.search(stderr))

    def locate(self, stderr: str) -> ErrorLocation:
        """Line, column, error type and message of the runner's first error report."""
        match = self.location.search(stderr)
        if not match:
            return ErrorLocation(type=self.type_of(stderr) if stderr.strip() else "")
        groups = match.groupdict()
        message = (groups.get("message") or match.group(0)).strip()
        return ErrorLocation(
            line=_int_or_none(groups.get("line")),
            column=_int_or_none(groups.get("column")),
            type="syntax" if self.is_syntax_error(stderr) else self.type_of(message),
            message=message,
        )

    def type_of(self, message: str) -> str:
        for name, pattern in self.types:
            if pattern.search(message):
                return name
        return "error"


@dataclass(frozen=True)
class TestSpec:
    prelude: str
    call: str
    assertion: str
    finish: str
    failure: re.Pattern
    separator: str
    literals: dict[str, str]
    string_escapes: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Pack:
    root: Path
    name: str
    slug: str
    version: str
    extension: str
    grammar: str
    line_comment: str
    licence: str
    command: tuple[str, ...]
    version_command: tuple[str, ...]
    limits: Limits
    errors: ErrorSpec
    tests: TestSpec
    keywords: tuple[str, ...] = ()
    operators: tuple[str, ...] = ()
    builtins: tuple[str, ...] = ()
    not_runnable: frozenset[str] = field(default_factory=frozenset)
    # Optional templates for generators that cannot derive them from the grammar
    # (how to print a value, a numeric for loop as a while loop); see languages/README.md.
    synthesis: dict = field(default_factory=dict)
    # The [triage] table as written: per-check rules (which checks run, their settings,
    # "reject" or "review"). Its checks and settings are triage's, so curation.packs checks
    # them when it reads the pack; the sandbox only carries them.
    triage: dict = field(default_factory=dict)

    @property
    def filename(self) -> str:
        return "prog" + self.extension

    def argv(self, path: str) -> list[str]:
        return [part.replace("{file}", path) for part in self.command]


REQUIRED_LITERALS = ("int", "float", "true", "false", "null", "string", "list", "map", "map_entry")


def load_pack(root: Path | str) -> Pack:
    """Parse `<root>/language.toml`; raise PackError naming the file, line and field."""
    root = Path(root)
    path = root / "language.toml"
    if not path.is_file():
        raise PackError(path, "missing: every pack needs a language.toml")
    text = path.read_text(encoding="utf-8", errors="strict")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None) or _int_or_none(_search(r"line (\d+)", str(exc)))
        raise PackError(path, f"not valid TOML: {exc}", line=line) from None
    reader = _Reader(path, text, data)

    command = tuple(reader.strings("runner.command"))
    if not any("{file}" in part for part in command):
        raise PackError(path, "must contain {file}", line=reader.line_of("command"), field="runner.command")
    try:
        limits = Limits.from_mapping(reader.table("limits", required=False))
    except (TypeError, ValueError) as exc:
        raise PackError(path, str(exc), line=reader.line_of("[limits]"), field="limits") from None

    types = []
    for i, entry in enumerate(reader.list("errors.types", required=False)):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not name or "pattern" not in entry:
            raise PackError(path, "each [[errors.types]] needs name and pattern", field=f"errors.types[{i}]")
        types.append((name, reader.regex_value(entry["pattern"], f"errors.types[{i}].pattern")))

    literals = reader.table("tests.literals")
    for key in REQUIRED_LITERALS:
        if not isinstance(literals.get(key), str):
            raise PackError(path, "missing literal template", line=reader.line_of("[tests.literals]"), field=f"tests.literals.{key}")
    escapes = literals.pop("string_escapes", {})
    if not isinstance(escapes, dict):
        raise PackError(path, "must be a table", field="tests.literals.string_escapes")

    extension = reader.string("extension")
    if not extension.startswith("."):
        raise PackError(path, "must start with a dot, like \".lua\"", line=reader.line_of("extension"), field="extension")

    return Pack(
        root=root,
        name=reader.string("name"),
        slug=reader.slug(),
        version=str(reader.get("version", required=False) or ""),
        extension=extension,
        grammar=reader.string("grammar"),
        line_comment=reader.string("line_comment", required=False),
        licence=reader.string("licence", required=False),
        command=command,
        version_command=tuple(reader.strings("runner.version", required=False)),
        limits=limits,
        errors=ErrorSpec(
            location=reader.regex("errors.location"),
            syntax=reader.regex("errors.syntax"),
            out_of_memory=reader.regex("errors.out_of_memory", required=False),
            types=tuple(types),
        ),
        tests=TestSpec(
            prelude=reader.string("tests.prelude", required=False),
            call=reader.string("tests.call"),
            assertion=reader.string("tests.assertion"),
            finish=reader.string("tests.finish"),
            failure=reader.regex("tests.failure"),
            separator=reader.string("tests.separator", required=False) or ", ",
            literals=literals,
            string_escapes=tuple(escapes.items()),
        ),
        keywords=tuple(reader.strings("lexicon.keywords", required=False)),
        operators=tuple(reader.strings("lexicon.operators", required=False)),
        builtins=tuple(reader.strings("lexicon.builtins", required=False)),
        not_runnable=frozenset(reader.strings("examples.not_runnable", required=False)),
        synthesis=reader.table("synthesis", required=False),
        triage=reader.table("triage", required=False),
    )


class _Reader:
    """Typed access to the parsed TOML that reports the dotted field and its line."""

    def __init__(self, path: Path, text: str, data: dict):
        self.path, self.text, self.data = path, text, data

    def line_of(self, needle: str) -> int | None:
        key = needle.rsplit(".", 1)[-1]
        for number, line in enumerate(self.text.splitlines(), 1):
            stripped = line.strip()
            if stripped.startswith(needle) or re.match(rf"{re.escape(key)}\s*=", stripped):
                return number
        return None

    def fail(self, dotted: str, message: str):
        raise PackError(self.path, message, line=self.line_of(dotted), field=dotted)

    def get(self, dotted: str, required: bool = True):
        node = self.data
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                if required:
                    self.fail(dotted, "missing")
                return None
            node = node[part]
        return node

    def string(self, dotted: str, required: bool = True) -> str:
        value = self.get(dotted, required)
        if value is None:
            return ""
        if not isinstance(value, str):
            self.fail(dotted, f"must be a string, not {type(value).__name__}")
        return value

    def strings(self, dotted: str, required: bool = True) -> list[str]:
        value = self.list(dotted, required)
        if not all(isinstance(v, str) for v in value):
            self.fail(dotted, "must be a list of strings")
        return value

    def list(self, dotted: str, required: bool = True) -> list:
        value = self.get(dotted, required)
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(dotted, "must be a list")
        return value

    def table(self, dotted: str, required: bool = True) -> dict:
        value = self.get(dotted, required)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(dotted, "must be a table")
        return dict(value)

    def regex(self, dotted: str, required: bool = True) -> re.Pattern | None:
        value = self.string(dotted, required)
        if not value:
            return None
        return self.regex_value(value, dotted)

    def regex_value(self, value: str, dotted: str) -> re.Pattern:
        try:
            return re.compile(value)
        except re.error as exc:
            self.fail(dotted, f"regex does not compile: {exc}")

    def slug(self) -> str:
        slug = self.string("slug")
        if not re.fullmatch(r"[a-z][a-z0-9_-]{0,39}", slug):
            self.fail("slug", "must be lowercase letters, digits, - or _ (at most 40)")
        return slug


def _search(pattern: str, text: str) -> str | None:
    match = re.search(pattern, text)
    return match.group(1) if match else None


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
