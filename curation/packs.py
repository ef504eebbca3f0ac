"""Reading and checking a language pack's content: docs, examples, tasks, guidelines.

Pure: no database. `read_pack` refuses a malformed pack with the file, line and field;
`check_pack` runs what must run (examples, references, known-wrong solutions) in the
sandbox and returns every problem found, so an onboarding error lists them all at once.
"""
from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from curation.grammar import GrammarUnavailable, syntax_problems
from sandbox.pack import Pack, PackError, load_pack
from sandbox.testcompiler import TestFormatError, parse_tests

SPLITS = ("train", "dev", "test")
# A citation of a doc section: "§6.1", also "§ 6.1" as models write it; a sentence-ending
# dot ("see §6.1.") is not part of the anchor. Review, synthesis and DocGrounded@1 read
# citations with this one rule.
CITATION = re.compile(r"§\s?(\d+(?:\.\d+)*)(?!\.?\d)")


def cited_anchors(text: str) -> list[str]:
    """The anchors a text cites ("§6.1"), each once, in order of first citation."""
    return list(dict.fromkeys("§" + m.group(1) for m in CITATION.finditer(text or "")))


HEADING = re.compile(r"^(#{1,6})\s+(\d+(?:\.\d+)*)\.?\s+(.+?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")
TASK_FIELDS = {"entry_point", "category", "prompt", "reference", "wrong", "tests"}

# The triage checks, their settings and defaults: what a pack's [triage] table (and a job's
# rules) may say. synthesis.triage applies them (its DEFAULT_RULES is this table); it lives
# here because curation reads packs and imports point synthesis -> curation, never back.
TRIAGE_DEFAULTS: dict = {
    "length": {"on": True, "min_lines": 1, "max_lines": 400, "min_chars": 8, "max_chars": 20000, "action": "reject"},
    "secrets": {"on": True, "entropy": 4.0, "min_token": 24, "action": "reject"},
    "parse": {"on": False, "action": "review"},
    "exact_duplicates": {"on": True, "action": "reject"},
    "decontamination": {"on": True, "n": 10, "min_fraction": 0.25, "ignore_names": False, "action": "reject"},
    # skip_kinds: item kinds that are variants of one program on purpose (augmentations,
    # error-fix samples of one program's mutations): they are neither compared for near
    # duplicates nor indexed; exact duplicates of them are still removed.
    "near_duplicates": {"on": True, "threshold": 0.85, "num_perm": 128, "shingle": 5, "skip_kinds": [],
                        "action": "reject"},
    "perplexity": {"on": False, "max": None, "action": "review"},
}
TRIAGE_ACTIONS = ("reject", "review")
# The range each number must fall in, (low, high, low is allowed), so a rule that would
# only fail the job later — no permutations, a Jaccard threshold of 7 — is refused where
# it is written.
TRIAGE_RANGES = {
    "min_lines": (0, None, True), "max_lines": (1, None, True), "min_chars": (0, None, True),
    "max_chars": (1, None, True), "entropy": (0, None, False), "min_token": (1, None, True), "n": (1, None, True),
    "min_fraction": (0, 1, False), "threshold": (0, 1, False), "num_perm": (1, None, True),
    "shingle": (1, None, True), "max": (0, None, False),
}


@dataclass(frozen=True)
class SectionData:
    anchor: str
    title: str
    body: str
    source_file: str
    source_line: int
    order: int


@dataclass(frozen=True)
class ExampleData:
    name: str
    code: str
    expected_output: str | None
    runnable: bool


@dataclass(frozen=True)
class TaskData:
    name: str
    split: str
    category: str
    prompt: str
    entry_point: str
    tests: list
    reference: str
    wrong: str
    path: str


@dataclass
class PackContent:
    pack: Pack
    sections: list[SectionData]
    examples: list[ExampleData]
    tasks: list[TaskData]
    guidelines: str
    digest: str
    counts: dict = field(default_factory=dict)

    def summary(self) -> dict:
        per_split = {s: sum(1 for t in self.tasks if t.split == s) for s in SPLITS}
        return {"sections": len(self.sections), "examples": len(self.examples), "tasks": per_split}


class PackInvalid(ValueError):
    """A pack whose content fails its checks; `problems` lists each with its place."""

    def __init__(self, problems: list[PackError]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"the pack has {len(problems)} problem(s):\n{lines}")


class TriageRuleError(ValueError):
    """A triage rule that cannot be applied; `field` is its dotted place, e.g.
    "near_duplicates.threshold" ("" for the rules as a whole)."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


def check_triage_rules(rules) -> dict:
    """Per-language or per-job triage rules, checked against TRIAGE_DEFAULTS: every check
    and setting must exist, actions are "reject" or "review", and each value has its
    default's type and a sensible range (TRIAGE_RANGES), so a misspelt, mistyped or
    impossible rule is refused where it is written rather than ignored or failing a job
    later. `true`/`false` for a check means {"on": ...}. Returns the rules with that
    shorthand spelt out; raises TriageRuleError."""
    defaults = TRIAGE_DEFAULTS
    if not isinstance(rules, dict):
        raise TriageRuleError("", "triage rules must be an object of checks, "
                                  'like {"near_duplicates": {"threshold": 0.9}}')
    checked = {}
    for check, settings in rules.items():
        if check not in defaults:
            raise TriageRuleError(check, f"unknown triage check {check!r}; known: {', '.join(defaults)}")
        if isinstance(settings, bool):
            settings = {"on": settings}
        if not isinstance(settings, dict):
            raise TriageRuleError(check, f"{check} must be a table of settings, or true / false")
        unknown = sorted(set(settings) - set(defaults[check]))
        if unknown:
            raise TriageRuleError(f"{check}.{unknown[0]}", f"unknown setting(s) for {check}: {', '.join(unknown)}; "
                                                           f"known: {', '.join(defaults[check])}")
        for name, value in settings.items():
            problem = _triage_value_problem(name, value, defaults[check][name])
            if problem:
                raise TriageRuleError(f"{check}.{name}", f"{check}.{name} {problem}")
        checked[check] = dict(settings)
    return checked


def _triage_value_problem(name: str, value, default) -> str:
    if name == "action":
        return "" if value in TRIAGE_ACTIONS else f"must be 'reject' or 'review', not {value!r}"
    if isinstance(default, bool):
        return "" if isinstance(value, bool) else "must be true or false"
    if isinstance(value, bool):
        return "must be a number"
    if isinstance(default, int):
        problem = "" if isinstance(value, int) else "must be a whole number"
    elif isinstance(default, float) or default is None:
        problem = "" if isinstance(value, (int, float)) or value is None else "must be a number"
    elif isinstance(default, list):
        return "" if isinstance(value, list) and all(isinstance(v, str) for v in value) else "must be a list of strings"
    else:
        return ""
    if problem or value is None or name not in TRIAGE_RANGES:
        return problem
    low, high, low_allowed = TRIAGE_RANGES[name]
    if value < low or (value == low and not low_allowed) or (high is not None and value > high):
        bound = f"{'at least' if low_allowed else 'more than'} {low}" + (f" and at most {high}" if high is not None else "")
        return f"must be {bound}, not {value!r}"
    return ""


def _check_pack_triage(pack: Pack) -> None:
    if not pack.triage:
        return
    try:
        check_triage_rules(pack.triage)
    except TriageRuleError as exc:
        path = pack.root / "language.toml"
        field = "triage" + (f".{exc.field}" if exc.field else "")
        raise PackError(path, str(exc), line=_toml_line(path.read_text(encoding="utf-8"), field), field=field) from None


TOML_HEADER = re.compile(r"^\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
TOML_KEY = re.compile(r"^((?:[\w-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[\w-]+|\"[^\"]*\"|'[^']*'))*)\s*=")


def _toml_line(text: str, dotted: str) -> int | None:
    """The line that sets `dotted` (e.g. "triage.near_duplicates.threshold"), whether it is
    written under its table's header, as a dotted key or inside an inline table; else the
    line of the nearest enclosing table that is written; else None."""
    def path(raw: str) -> str:
        return ".".join(part.strip().strip("\"'") for part in raw.split("."))

    best: tuple[int, int] | None = None  # (how many parts matched, line)
    table = ""
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        header = TOML_HEADER.match(line)
        if header:
            table = full = path(header.group(1))
        else:
            key = TOML_KEY.match(line)
            if not key:
                continue
            full = ".".join(p for p in (table, path(key.group(1))) if p)
        if full == dotted:
            return number
        if dotted.startswith(full + "."):
            depth = full.count(".") + 1
            if best is None or depth > best[0]:
                best = (depth, number)
    return best[1] if best else None


def read_pack(root: Path | str) -> PackContent:
    root = Path(root).resolve()
    if not root.is_dir():
        raise PackError(root, "no such folder")
    pack = load_pack(root)
    _check_pack_triage(pack)
    docs = root / "docs"
    if not docs.is_dir() or not any(docs.glob("*.md")):
        raise PackError(docs, "missing: a pack needs docs/*.md with numbered headings")
    sections = _read_sections(sorted(docs.glob("*.md")), root)
    if not sections:
        raise PackError(docs, "no numbered headings like '## 3.2 Tables' were found")
    examples = _read_examples(root / "examples", pack)
    tasks = _read_tasks(root / "tasks", root)
    guidelines_path = root / "guidelines.md"
    guidelines = _read_text(guidelines_path, root) if guidelines_path.is_file() else ""
    return PackContent(pack, sections, examples, tasks, guidelines, _digest(root))


def _read_text(path: Path, root: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise PackError(path.relative_to(root), f"not UTF-8 text ({exc.reason})", line=line) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise PackError(path.relative_to(root), "contains a NUL byte", line=line)
    return text


def _read_sections(paths: list[Path], root: Path) -> list[SectionData]:
    sections: list[SectionData] = []
    seen: dict[str, str] = {}
    for path in paths:
        rel = str(path.relative_to(root))
        current: dict | None = None
        in_fence = False
        for number, line in enumerate(_read_text(path, root).splitlines(), 1):
            if FENCE.match(line):
                in_fence = not in_fence
            match = None if in_fence else HEADING.match(line)
            if match:
                if current:
                    sections.append(_section(current, len(sections)))
                anchor = "§" + match.group(2)
                if anchor in seen:
                    raise PackError(rel, f"anchor {anchor} is also used at {seen[anchor]}", line=number, field="heading")
                seen[anchor] = f"{rel}:{number}"
                current = {"anchor": anchor, "title": match.group(3), "lines": [], "file": rel, "line": number}
            elif current is not None:
                current["lines"].append(line)
        if current:
            sections.append(_section(current, len(sections)))
    return sections


def _section(current: dict, order: int) -> SectionData:
    return SectionData(current["anchor"], current["title"], "\n".join(current["lines"]).strip("\n"),
                       current["file"], current["line"], order)


def _read_examples(folder: Path, pack: Pack) -> list[ExampleData]:
    if not folder.is_dir():
        raise PackError(folder, "missing: a pack needs examples/")
    examples = []
    for path in sorted(folder.glob("*" + pack.extension)):
        out = path.with_suffix(".out")
        examples.append(ExampleData(
            name=path.name,
            code=_read_text(path, pack.root),
            expected_output=_read_text(out, pack.root) if out.is_file() else None,
            runnable=path.name not in pack.not_runnable,
        ))
    if not examples:
        raise PackError(folder, f"no example programs (*{pack.extension})")
    unknown = pack.not_runnable - {e.name for e in examples}
    if unknown:
        raise PackError("language.toml", f"lists examples that do not exist: {', '.join(sorted(unknown))}",
                        field="examples.not_runnable")
    return examples


def _read_tasks(folder: Path, root: Path) -> list[TaskData]:
    if not folder.is_dir():
        return []
    unexpected = [p.name for p in folder.iterdir() if p.is_dir() and p.name not in SPLITS]
    if unexpected:
        raise PackError(folder.relative_to(root), f"task folders must be train, dev or test, not {', '.join(sorted(unexpected))}")
    tasks = []
    for split in SPLITS:
        for path in sorted((folder / split).glob("*.toml")):
            tasks.append(_read_task(path, split, root))
    return tasks


def _read_task(path: Path, split: str, root: Path) -> TaskData:
    rel = str(path.relative_to(root))
    text = _read_text(path, root)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PackError(rel, f"not valid TOML: {exc}", line=getattr(exc, "lineno", None)) from None
    for key in ("entry_point", "prompt", "reference", "tests"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise PackError(rel, "missing or not a string", field=key)
    unknown = set(data) - TASK_FIELDS
    if unknown:
        raise PackError(rel, f"unknown field(s): {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
    try:
        tests = parse_tests(data["tests"])
    except TestFormatError as exc:
        raise PackError(rel, str(exc), line=_line_of(text, "tests"), field="tests") from None
    return TaskData(
        name=path.stem, split=split, category=str(data.get("category", "")), prompt=data["prompt"].strip(),
        entry_point=data["entry_point"].strip(), tests=[{"args": list(t.args), "expected": t.expected} for t in tests],
        reference=data["reference"], wrong=str(data.get("wrong", "")), path=rel,
    )


def _line_of(text: str, key: str) -> int | None:
    for number, line in enumerate(text.splitlines(), 1):
        if re.match(rf"\s*{re.escape(key)}\s*=", line):
            return number
    return None


def _digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def check_pack(content: PackContent, run_many) -> list[PackError]:
    """Every example parses; runnable ones run ok (and print their .out); every task's
    reference passes its tests and its known-wrong solution fails them.

    `run_many(pack, programs)` is the sandbox's batch runner: it yields (index, Result).
    """
    from sandbox import Program

    pack = content.pack
    problems: list[PackError] = []
    try:
        for example in content.examples:
            for problem in syntax_problems(example.code, pack.grammar):
                problems.append(PackError(f"examples/{example.name}", f"does not parse: {problem.kind} near {problem.text!r}",
                                          line=problem.line))
                break
    except GrammarUnavailable as exc:
        problems.append(PackError("language.toml", str(exc), field="grammar"))

    checks: list[tuple[str, str, Program]] = []
    for example in content.examples:
        if example.runnable:
            checks.append(("example", example.name, Program(example.code)))
    for task in content.tasks:
        checks.append(("reference", task.path, Program(task.reference, tests=task.tests, entry_point=task.entry_point)))
        if task.wrong.strip():
            checks.append(("wrong", task.path, Program(task.wrong, tests=task.tests, entry_point=task.entry_point)))

    by_name = {e.name: e for e in content.examples}
    for index, result in run_many(pack, [c[2] for c in checks]):
        role, name, _ = checks[index]
        verdict = str(result.verdict.value if hasattr(result.verdict, "value") else result.verdict)
        if role == "example":
            if verdict != "ok":
                problems.append(PackError(f"examples/{name}", f"does not run: {verdict} {result.error_message or result.message}".strip(),
                                          line=result.error_line))
            elif by_name[name].expected_output is not None and result.stdout != by_name[name].expected_output:
                problems.append(PackError(f"examples/{name}", "stdout differs from the .out file beside it"))
        elif role == "reference" and verdict != "ok":
            detail = result.error_message or result.message or result.stderr[:200]
            problems.append(PackError(name, f"the reference solution does not pass its tests: {verdict}: {detail}".strip(),
                                      field="reference"))
        elif role == "wrong" and verdict == "ok":
            problems.append(PackError(name, "the known-wrong solution passes every test; the tests cannot tell it apart",
                                      field="wrong"))
    return problems
