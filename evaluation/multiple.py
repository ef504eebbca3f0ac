"""MultiPL-E files and MultiPL-E's judging rule.

A MultiPL-E problem file is JSON Lines with the fields `name, language, prompt, doctests,
original, prompt_terminology, tests, stop_tokens` (see shared/benchmarks/multipl-e/README.md).
A completion is cut at the first stop token; the program is `prompt + completion + "\\n" +
tests`; it passes when it exits 0 within the time limit.

The tests load a unit-test library (Lua: `require('luaunit')`) that Debian does not
package, so the harness carries a *test library* per language and loads it from inside the
program (`package.preload`) — nothing is installed in the sandbox. One deliberate
tightening of the rule: the library prints a per-run marker when its test runner finishes,
and a program passes only with exit 0 *and* the marker, so a completion that calls
`os.exit(0)` before the tests run fails (MultiPL-E would count it).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"

REQUIRED_FIELDS = {"name": str, "language": str, "prompt": str, "tests": str, "stop_tokens": list}
# Provenance fields: checked when present, not required (older MultiPL-E releases lack some).
OPTIONAL_FIELDS = {"doctests": str, "original": str, "prompt_terminology": str, "canonical_solution": str}
MAX_FILE_BYTES = 50 << 20
MAX_LINE_BYTES = 1 << 20
LICENCE = "BSD-3-Clause (MultiPL-E); not for training: evaluation only"


class MultipleFormatError(ValueError):
    """A MultiPL-E file that cannot be used, with the place that is wrong."""

    def __init__(self, path: Path | str, message: str, *, line: int | None = None, field: str | None = None):
        self.path, self.line, self.field, self.message = str(path), line, field, message
        where = self.path + (f":{line}" if line else "")
        what = f" [{field}]" if field else ""
        super().__init__(f"{where}{what}: {message}")


@dataclass(frozen=True)
class MultipleRecord:
    name: str
    language: str
    prompt: str
    tests: str
    stop_tokens: tuple[str, ...]
    line: int
    doctests: str = ""
    original: str = ""
    prompt_terminology: str = ""
    canonical_solution: str = ""


def read_multiple(path: Path | str, *, language: str | None = None, max_bytes: int = MAX_FILE_BYTES,
                  max_line_bytes: int = MAX_LINE_BYTES) -> list[MultipleRecord]:
    """Every record of a MultiPL-E file, or MultipleFormatError naming the line and field:
    bad JSON, a missing or mistyped field, NUL bytes, text that is not UTF-8, a line or file
    over the size limit, a duplicate name, or a language other than `language`."""
    path = Path(path)
    if not path.is_file():
        raise MultipleFormatError(path, "no such file")
    size = path.stat().st_size
    if size > max_bytes:
        raise MultipleFormatError(path, f"file is {size} bytes, over the limit of {max_bytes}")
    raw = path.read_bytes()
    records: list[MultipleRecord] = []
    names: dict[str, int] = {}
    for number, line in enumerate(raw.split(b"\n"), 1):
        if number == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        if not line.strip():
            continue
        if len(line) > max_line_bytes:
            raise MultipleFormatError(path, f"line is {len(line)} bytes, over the limit of {max_line_bytes}",
                                      line=number)
        nul = line.find(b"\x00")
        if nul != -1:
            raise MultipleFormatError(path, f"contains a NUL byte at column {nul + 1}", line=number)
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MultipleFormatError(path, f"not UTF-8: byte 0x{line[exc.start]:02x} at column {exc.start + 1}",
                                      line=number) from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MultipleFormatError(path, f"not valid JSON: {exc.msg} at column {exc.colno}", line=number) from None
        record = _record(path, number, data, language)
        if record.name in names:
            raise MultipleFormatError(path, f"duplicate name {record.name!r} (first on line {names[record.name]})",
                                      line=number, field="name")
        names[record.name] = number
        records.append(record)
    if not records:
        raise MultipleFormatError(path, "no problems in the file")
    return records


def _record(path: Path, number: int, data, language: str | None) -> MultipleRecord:
    if not isinstance(data, dict):
        raise MultipleFormatError(path, f"must be a JSON object, not {type(data).__name__}", line=number)
    for key, kind in REQUIRED_FIELDS.items():
        if key not in data:
            raise MultipleFormatError(path, "missing field", line=number, field=key)
        if not isinstance(data[key], kind):
            raise MultipleFormatError(path, f"must be a {kind.__name__}, not {type(data[key]).__name__}",
                                      line=number, field=key)
    for key, kind in OPTIONAL_FIELDS.items():
        if key in data and data[key] is not None and not isinstance(data[key], kind):
            raise MultipleFormatError(path, f"must be a {kind.__name__}, not {type(data[key]).__name__}",
                                      line=number, field=key)
    for key in ("name", "language", "prompt", "tests"):
        if not data[key].strip():
            raise MultipleFormatError(path, "must not be empty", line=number, field=key)
    if not all(isinstance(t, str) and t for t in data["stop_tokens"]):
        raise MultipleFormatError(path, "must be a list of non-empty strings", line=number, field="stop_tokens")
    for key in list(REQUIRED_FIELDS) + list(OPTIONAL_FIELDS):
        value = data.get(key)
        values = value if isinstance(value, list) else [value]
        if any(isinstance(v, str) and "\x00" in v for v in values):
            raise MultipleFormatError(path, "contains a NUL character (\\u0000)", line=number, field=key)
    if language is not None and data["language"] != language:
        raise MultipleFormatError(path, f"is {data['language']!r}, expected {language!r}", line=number,
                                  field="language")
    return MultipleRecord(
        name=data["name"], language=data["language"], prompt=data["prompt"], tests=data["tests"],
        stop_tokens=tuple(data["stop_tokens"]), line=number,
        doctests=data.get("doctests") or "", original=data.get("original") or "",
        prompt_terminology=data.get("prompt_terminology") or "",
        canonical_solution=data.get("canonical_solution") or "",
    )


def truncate_at_stop_tokens(completion: str, stop_tokens) -> str:
    """MultiPL-E's rule: the completion ends where the earliest stop token begins."""
    cut = len(completion)
    for token in stop_tokens or ():
        at = completion.find(token)
        if at != -1:
            cut = min(cut, at)
    return completion[:cut]


def entry_point_of(record: MultipleRecord) -> str:
    """The function the tests call: `local candidate = NAME` in the tests, else the problem
    name without its `HumanEval_<n>_` prefix."""
    match = re.search(r"\bcandidate\s*=\s*([A-Za-z_][\w.]*)", record.tests)
    if match:
        return match.group(1)
    return re.sub(r"^[A-Za-z]+_\d+_", "", record.name)


# ---------------------------------------------------------------- test libraries

@dataclass(frozen=True)
class TestLibrary:
    """A unit-test library a MultiPL-E language's tests `require`, shipped inside the program.

    `provides`: the functions the library offers under the test files' alias (`lu.<name>`),
    checked against the tests before anything runs so a missing assertion is reported as
    what it is. `preload(marker)` is code to put before the program; it must not change
    the program's line numbers (errors point at the completion's lines).
    """
    __test__ = False  # not a pytest class

    language: str
    module: str
    source: str
    provides: frozenset[str]
    alias_pattern: str  # regex with one group: the function a test calls

    def preload(self, marker: str) -> str:
        # One line, no newline: the program's own lines keep their numbers. load() gives
        # the library its own chunk and scope, as a separate file would have.
        return (f"package.preload[{lua_string(self.module)}] = function() "
                f"return assert({_load_chunk(self.source, self.module)})({lua_string(marker)}) end; ")

    def missing(self, tests: str) -> list[str]:
        """Functions the tests call that the library does not provide."""
        used = dict.fromkeys(re.findall(self.alias_pattern, tests))
        return [name for name in used if name not in self.provides]


@lru_cache(maxsize=16)
def _load_chunk(source: str, module: str) -> str:
    # Quoting the library byte by byte took 5 ms a program (12 KB luaunit shim), in the
    # thread that judges while the model generates: once per library is enough.
    return f"load({lua_string(source)}, {lua_string('=' + module)}, \"t\")"


def lua_string(text: str) -> str:
    """A double-quoted Lua string literal on one line, byte-exact for any UTF-8 text."""
    out = []
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif byte < 32 or byte == 127:
            out.append(f"\\{byte:03d}")
        elif byte >= 128:
            out.append(f"\\{byte:03d}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


LUAUNIT_PROVIDES = frozenset({
    "assertEquals", "assertNotEquals", "assertAlmostEquals", "assertNotAlmostEquals", "almostEquals",
    "assertTrue", "assertFalse", "assertEvalToTrue", "assertEvalToFalse", "assertNil", "assertNotNil",
    "assertIsNil", "assertNotIsNil", "assertIs", "assertNotIs", "assertItemsEquals", "assertStrContains",
    "assertError", "assertErrorMsgContains", "fail", "prettystr",
    "assert_equals", "assert_not_equals", "assert_almost_equals", "assert_not_almost_equals",
    "assert_true", "assert_false", "assert_eval_to_true", "assert_eval_to_false", "assert_nil",
    "assert_not_nil", "assert_is_nil", "assert_not_is_nil", "assert_is", "assert_not_is",
    "assert_items_equals", "assert_str_contains", "assert_error", "assert_error_msg_contains",
    "LuaUnit.run", "run",
})


@lru_cache(maxsize=None)
def luaunit() -> TestLibrary:
    return TestLibrary(
        language="lua", module="luaunit", source=(DATA / "luaunit_shim.lua").read_text(encoding="utf-8"),
        provides=LUAUNIT_PROVIDES, alias_pattern=r"\blu\.([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)?)",
    )


@dataclass(frozen=True)
class MultipleLanguage:
    """What the harness needs to know about one MultiPL-E target language.

    empty_body: a completion that closes the prompt's open function without returning
    anything — the known-wrong answer the self-test expects every problem's tests to reject.
    """
    language: str
    empty_body: str
    test_library: str  # key into the harness's test libraries


LANGUAGES = {"lua": MultipleLanguage(language="lua", empty_body="end\n", test_library="lua")}


def default_test_libraries() -> dict[str, TestLibrary]:
    return {"lua": luaunit()}


# ---------------------------------------------------------------- reading a run's outcome

_REPORT = re.compile(r"(?ms)^luaunit: (FAIL|ERROR) (\S+): (.*?)(?=^luaunit: |\Z)")
_SUMMARY = re.compile(r"(?m)^luaunit: ran (\d+) tests, (\d+) failures, (\d+) errors$")
_LOCATION = re.compile(r"\A[^\n:]*:(\d+): (.*)\Z", re.S)


@dataclass(frozen=True)
class TestReport:
    """What the test library said, when its runner finished."""
    __test__ = False

    ran: int
    failures: int
    errors: int
    first_kind: str = ""  # "FAIL" or "ERROR"
    first_message: str = ""
    first_line: int | None = None
    reports: list = field(default_factory=list)


def read_test_report(stderr: str) -> TestReport | None:
    summary = None
    for summary in _SUMMARY.finditer(stderr):
        pass
    if summary is None:
        return None
    reports = [(m.group(1), m.group(2), m.group(3).strip()) for m in _REPORT.finditer(stderr[:summary.start()])]
    kind, message, line = "", "", None
    if reports:
        kind, _, message = reports[0]
        located = _LOCATION.match(message)
        if located:
            line, message = int(located.group(1)), located.group(2)
    return TestReport(int(summary.group(1)), int(summary.group(2)), int(summary.group(3)), kind, message, line, reports)
