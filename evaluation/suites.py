"""Evaluation suites: sets of held-out problems, all as one `Problem` type.

- `pack_suite`: the pack's dev and test tasks (neutral JSON tests, compiled by the pack);
- `multiple_suite`: a MultiPL-E file (raw test code; evaluation only by licence);
- `errfix_suite`: a pack task's reference broken by a mutation that really fails, plus the
  runner's real message; the fix must pass the task's tests;
- `docqa_suite`: one question per doc section; the answer must cite the section's anchor.

Pure apart from `errfix_suite`, which runs its mutations in the sandbox to keep only those
that fail and to record the message they fail with.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from evaluation import multiple
from evaluation.metrics import ANCHOR

KINDS = ("code", "errfix", "docqa")
VARIANTS = ("instruction", "completion")


@dataclass(frozen=True)
class Problem:
    """One held-out problem.

    variant: "instruction" — the prompt is prose and the completion is the whole solution;
        "completion" — the prompt is the start of the program and the solution is
        prompt + completion (MultiPL-E, or a pack task rendered as code).
    tests: neutral JSON tests ([{"args": [...], "expected": ...}]) compiled by the pack;
    test_code: raw test code appended to the solution instead (MultiPL-E).
    reference / known_wrong: *completions* for this prompt that must pass / must fail; the
        harness self-test runs them. None where the suite has none.
    anchors: doc-QA only — the anchors a correct answer must cite.
    evaluation_only: never training data; `restriction` says why ("licence" or "held_out").
    """

    id: str
    suite: str
    kind: str
    prompt: str
    variant: str = "instruction"
    language: str = ""
    entry_point: str | None = None
    tests: list | None = field(default=None, hash=False)
    test_code: str | None = None
    reference: str | None = None
    known_wrong: str | None = None
    category: str = ""
    stop_tokens: tuple[str, ...] = ()
    source: str = ""
    licence: str = ""
    evaluation_only: bool = True
    restriction: str = "held_out"
    anchors: tuple[str, ...] = ()
    metadata: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def prefix(self) -> str:
        """Source that comes before the completion in the solution."""
        return self.prompt if self.variant == "completion" else ""

    def solution(self, completion: str) -> str:
        return self.prefix + completion


# ---------------------------------------------------------------- the pack's tasks

def pack_suite(content, *, splits: Iterable[str] = ("dev", "test"), variant: str = "instruction") -> list[Problem]:
    """The pack's tasks of `splits` (never train) as problems, suite `<slug>-<split>`.

    The "completion" variant renders the task prose as line comments followed by the
    reference's lines up to the first that names the entry point (its signature), and the
    reference completion is the rest of the reference — so a base model continues code.
    Helpers the reference defines before the entry point are then part of the prompt
    (metadata "prompt_shows_helpers"): the model writes the entry point's body only.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, not {variant!r}")
    splits = tuple(splits)
    if "train" in splits:
        raise ValueError("the train split is training data; evaluate on dev and test")
    pack = content.pack
    problems = []
    for task in content.tasks:
        if task.split not in splits:
            continue
        common = dict(
            id=f"{pack.slug}/{task.split}/{task.name}", suite=f"{pack.slug}-{task.split}", kind="code",
            language=pack.slug, entry_point=task.entry_point, tests=task.tests, category=task.category,
            source=f"pack:{pack.slug}:{task.path}", licence=pack.licence, evaluation_only=True, restriction="held_out",
            metadata={"task": task.name, "split": task.split},
        )
        if variant == "instruction":
            problems.append(Problem(prompt=task.prompt, variant="instruction", reference=task.reference,
                                    known_wrong=task.wrong or None, **common))
            continue
        prompt, reference, wrong, stops, shows_helpers = _as_completion(pack, task)
        common["metadata"]["prompt_shows_helpers"] = shows_helpers
        problems.append(Problem(prompt=prompt, variant="completion", reference=reference, known_wrong=wrong,
                                stop_tokens=stops, **common))
    return problems


def _as_completion(pack, task) -> tuple[str, str, str | None, tuple[str, ...], bool]:
    if not pack.line_comment:
        raise ValueError(f"pack {pack.slug} has no line_comment; the completion variant needs one")
    head, signature, body = _split_at_signature(task.reference, task.entry_point)
    if signature is None:
        raise ValueError(f"{task.path}: the reference never names its entry point {task.entry_point!r}")
    comment = "".join(f"{pack.line_comment} {line}".rstrip() + "\n" for line in task.prompt.splitlines())
    # The known-wrong solution becomes a completion only when everything before its
    # signature is what the prompt already holds; a bug in a helper would otherwise vanish.
    wrong = None
    if task.wrong:
        w_head, w_signature, w_body = _split_at_signature(task.wrong, task.entry_point)
        if w_signature is not None and w_head.split() == head.split() \
                and w_signature.strip().startswith(signature.strip()):
            rest = w_signature.strip()[len(signature.strip()):].strip()  # a one-line definition's body
            wrong = ((rest + "\n") if rest else "") + w_body
            wrong = wrong if wrong.strip() else None
    first_word = signature.split()[0] if signature.split() else ""
    stops = tuple(dict.fromkeys(t for t in ("\n" + pack.line_comment, "\n" + first_word) if t.strip()))
    return comment + head + signature, body, wrong, stops, bool(head.strip())


def _split_at_signature(code: str, entry_point: str) -> tuple[str, str | None, str]:
    """(code before the first line naming entry_point, that line with its newline, the rest)."""
    lines = code.lstrip("\n").splitlines(keepends=True)
    named = re.compile(rf"(?<![\w]){re.escape(entry_point)}(?![\w])")
    at = next((i for i, line in enumerate(lines) if named.search(line)), None)
    if at is None:
        return "", None, ""
    signature = lines[at] if lines[at].endswith("\n") else lines[at] + "\n"
    return "".join(lines[:at]), signature, "".join(lines[at + 1:])


# ---------------------------------------------------------------- MultiPL-E

def multiple_suite(path: Path | str, *, language: str | None = None, suite: str | None = None) -> list[Problem]:
    """A MultiPL-E file as problems (suite name: the file's stem). Raises
    multiple.MultipleFormatError naming the line and field of anything malformed.

    MultiPL-E publishes no canonical solutions (HumanEval-Lua has none), so `reference`
    is None unless the file carries a `canonical_solution`; `known_wrong` is the
    language's empty body, which every problem's tests must reject.
    """
    path = Path(path)
    suite = suite or path.stem
    records = multiple.read_multiple(path, language=language)
    problems = []
    for record in records:
        lang = multiple.LANGUAGES.get(record.language)
        problems.append(Problem(
            id=f"{suite}/{record.name}", suite=suite, kind="code", prompt=record.prompt, variant="completion",
            language=record.language, entry_point=multiple.entry_point_of(record), test_code=record.tests,
            reference=record.canonical_solution or None, known_wrong=lang.empty_body if lang else None,
            category=suite, stop_tokens=record.stop_tokens, source=f"multipl-e:{path.name}:{record.line}",
            licence=multiple.LICENCE, evaluation_only=True, restriction="licence",
            metadata={"name": record.name, "line": record.line, "original": record.original,
                      "prompt_terminology": record.prompt_terminology, "doctests": record.doctests},
        ))
    return problems


# ---------------------------------------------------------------- error-fix

MUTATIONS = ("misspelled_name", "dropped_token")
MESSAGE_LINES = 8
MUTATION_LIMITS = {"wall_seconds": 1.0, "cpu_seconds": 1.0}


def errfix_suite(content, *, splits: Iterable[str] = ("dev", "test"), seed: int = 0, per_kind: int = 3,
                 pool=None) -> list[Problem]:
    """One error-fix problem per task of `splits`: the reference broken by a mutation that
    really fails in the sandbox, with the runner's own message. Mutations are pack-neutral
    (a misspelled identifier → an undefined-name error; a dropped closing token → a syntax
    error); when neither fails for a task, its known-wrong solution and its test failure
    stand in. Kinds alternate across tasks so the suite mixes error types.
    """
    from sandbox import Program, run_many

    pack = content.pack
    tasks = [t for t in content.tasks if t.split in tuple(splits)]
    candidates: list[tuple[int, str, str]] = []  # (task index, kind, broken code)
    for index, task in enumerate(tasks):
        rng = random.Random(f"{seed}:{task.path}")
        for kind in MUTATIONS:
            for broken in _mutations(kind, task.reference, pack, task.entry_point, rng)[:per_kind]:
                candidates.append((index, kind, broken))
        if task.wrong.strip():
            candidates.append((index, "known_wrong", task.wrong))
    programs = [Program(code, tests=tasks[i].tests, entry_point=tasks[i].entry_point) for i, _, code in candidates]
    # A misspelled loop variable can spin forever; a mutation that times out is not kept anyway.
    results = dict(run_many(pack, programs, limits=MUTATION_LIMITS, pool=pool)) if programs else {}

    expected = {"misspelled_name": {"runtime_error"}, "dropped_token": {"syntax_error"},
                "known_wrong": {"runtime_error", "syntax_error", "test_failed"}}
    problems = []
    for index, task in enumerate(tasks):
        order = list(MUTATIONS[index % len(MUTATIONS):] + MUTATIONS[: index % len(MUTATIONS)]) + ["known_wrong"]
        chosen = None
        for kind in order:
            for c, (i, k, code) in enumerate(candidates):
                verdict = str(results[c].verdict) if c in results else ""
                if i == index and k == kind and verdict in expected[kind]:
                    chosen = (kind, code, results[c])
                    break
            if chosen:
                break
        if chosen is None:
            continue
        kind, broken, result = chosen
        message = failure_message(result)
        problems.append(Problem(
            id=f"{pack.slug}-errfix/{task.split}/{task.name}", suite=f"{pack.slug}-errfix", kind="errfix",
            prompt=_errfix_prompt(pack, task.prompt, broken, message), variant="instruction", language=pack.slug,
            entry_point=task.entry_point, tests=task.tests, reference=task.reference, known_wrong=broken,
            category=task.category, source=f"pack:{pack.slug}:{task.path}", licence=pack.licence,
            evaluation_only=True, restriction="held_out",
            metadata={"task": task.name, "split": task.split, "mutation": kind, "broken_verdict": str(result.verdict),
                      "error_type": result.error_type, "message": message},
        ))
    return problems


def failure_message(result) -> str:
    """The runner's message as a user would see it: stderr up to the stack traceback."""
    lines = []
    for line in result.stderr.splitlines():
        if line.startswith("stack traceback"):
            break
        lines.append(line.rstrip())
    text = "\n".join(lines[:MESSAGE_LINES]).strip()
    return text or result.message or str(result.verdict)


def _errfix_prompt(pack, task_prompt: str, broken: str, message: str) -> str:
    return (f"This {pack.name} program should do the following:\n{task_prompt}\n\n"
            f"It fails:\n```{pack.slug}\n{broken.strip()}\n```\n\n"
            f"Running it gives:\n```\n{message}\n```\n\n"
            f"Fix it. Answer with the whole corrected program.")


def _identifier_leaves(code: str, grammar: str):
    from curation.grammar import parse

    tree = parse(code, grammar)
    leaves, stack = [], [tree.root_node]
    while stack:
        node = stack.pop()
        if node.child_count == 0:
            leaves.append(node)
        else:
            stack.extend(reversed(node.children))
    return leaves


def _mutations(kind: str, code: str, pack, entry_point: str, rng: random.Random) -> list[str]:
    leaves = _identifier_leaves(code, pack.grammar)
    data = code.encode("utf-8")
    out: list[str] = []
    if kind == "misspelled_name":
        names = [n for n in leaves if n.is_named and (n.type.endswith("identifier") or n.type in ("name", "symbol"))]
        taken = {n.text.decode() for n in names} | set(pack.keywords) | set(pack.builtins)
        seen: set[str] = set()
        usable = []
        for node in names:
            text = node.text.decode()
            # A later use of a declared name, or any use of a builtin: misspelling it leaves
            # an undefined name rather than a harmless new declaration.
            if (text in seen or text in pack.builtins) and text != entry_point:
                usable.append(node)
            seen.add(text)
        rng.shuffle(usable)
        for node in usable:
            wrong = _misspell(node.text.decode(), taken)
            if wrong:
                out.append((data[:node.start_byte] + wrong.encode() + data[node.end_byte:]).decode("utf-8"))
    elif kind == "dropped_token":
        closers = [n for n in leaves if not n.is_named and n.parent is not None and n.parent.child_count >= 3
                   and n.parent.children[-1] == n and not n.text.decode().isspace()]
        rng.shuffle(closers)
        for node in closers:
            out.append((data[:node.start_byte] + data[node.end_byte:]).decode("utf-8"))
    return list(dict.fromkeys(out))


def _misspell(name: str, taken: set[str]) -> str | None:
    options = []
    if len(name) >= 4:
        options.append(name[:-2] + name[-1] + name[-2])  # swap the last two letters
        options.append(name[:-2] + name[-1])  # drop the last-but-one letter
    options.append(name + name[-1])
    for option in options:
        if option != name and option not in taken:
            return option
    return None


# ---------------------------------------------------------------- doc-QA

MIN_SECTION_CHARS = 80


def docqa_suite(content, *, min_chars: int = MIN_SECTION_CHARS) -> list[Problem]:
    """One question per doc section with at least `min_chars` of body: what the reference
    says about the section's topic, answered with its anchor cited (DocGrounded in
    metrics.doc_grounded). The reference answer is the section's first sentence with its
    anchor; the known-wrong answer is the same sentence without it."""
    pack = content.pack
    known = tuple(s.anchor for s in content.sections)
    problems = []
    for section in content.sections:
        if len(section.body.strip()) < min_chars:
            continue
        first = ANCHOR.sub("that section", _first_sentence(section.body))
        topic = section.title[:1].lower() + section.title[1:] if not section.title[:2].isupper() else section.title
        problems.append(Problem(
            id=f"{pack.slug}-docqa/{section.anchor}", suite=f"{pack.slug}-docqa", kind="docqa",
            prompt=(f"In {pack.name}, what does the reference manual say about {topic}? Answer briefly and cite "
                    f"the sections you rely on by their anchors (§ followed by the section number)."),
            language=pack.slug, reference=f"{first} ({section.anchor})", known_wrong=first,
            category=section.source_file, source=f"pack:{pack.slug}:{section.source_file}:{section.source_line}",
            licence=pack.licence, evaluation_only=True, restriction="held_out", anchors=(section.anchor,),
            metadata={"known_anchors": known, "title": section.title},
        ))
    return problems


def _first_sentence(body: str) -> str:
    prose = []
    in_fence = False
    for line in body.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
            continue
        if not in_fence and line.strip():
            prose.append(line.strip())
        elif prose and not in_fence:
            break
    text = " ".join(prose)
    match = re.search(r"^(.+?[.!?])(\s|$)", text)
    return (match.group(1) if match else text)[:400] or "See the section."
