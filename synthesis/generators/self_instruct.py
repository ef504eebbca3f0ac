"""Self-instruct grounded in the docs: the model proposes a new task — instruction, solution
and tests in the neutral JSON form — about a doc section it is shown.

Each prompt picks a topic section (by the seed), adds the sections most related to it
(keyword retrieval) and, when the pack has train tasks, one of them as a worked example of
the answer format. Answers are read strictly; an answer that is not exactly the asked-for
JSON, names no valid entry point, does not define it, does not parse, or has tests the
test compiler cannot write is skipped, and the reason is counted (in each candidate's
metadata["skipped_so_far"] and in params["report"]["skipped"]). The pipeline then keeps
only the tasks whose solution passes its own tests.

params:
  backend (required), count: prompts (default 8), samples per prompt (default 1),
  temperature (default 0.9), sections per prompt (default 3), section_chars: longest section
  text (default 1500), min_tests (default 3), max_new_tokens (default 1024),
  batch: prompts per backend call (default 8; each call's candidates are yielded before the next),
  topics: anchors to draw topics from (default all sections with a code block),
  report: a dict the generator fills with skip counts
"""
from __future__ import annotations

import json
import random
import re
from typing import Iterator

from sandbox.testcompiler import TestFormatError, compile_tests, parse_tests
from synthesis.candidates import Candidate, Source
from synthesis.prompts import (AnswerError, backend_name, code_blocks, count_skip, extract_code, parse_json_object,
                               sample)
from synthesis.retrieval import SectionIndex, format_sections

# Prompts per model call (see generate). Small enough that the first candidates reach the
# sandbox after one call; large enough that a local backend still batches its decoding.
BATCH = 8
FIELDS = ("instruction", "entry_point", "code", "tests")
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

PROMPT = """You are writing programming exercises for the {lang} language.

Reference sections:

{sections}

Invent ONE new exercise that practises what {topic} describes. It must be a single {lang} function that takes arguments and returns a value (no printing, no input), with at least {min_tests} tests.

Reply with exactly one JSON object with these keys and nothing else:
  "instruction": the task for a student, naming the function and its parameters,
  "entry_point": the function's name,
  "code": a complete {lang} solution defining that function,
  "tests": a list of {{"args": [...], "expected": ...}} with JSON values (lists, objects with string keys, strings, numbers, booleans, null).
{example}"""


def generate(source: Source, params: dict, seed: int) -> Iterator[Candidate]:
    backend = params.get("backend")
    if backend is None:
        raise ValueError("self_instruct.docs needs params['backend'], a model backend")
    content = source.content
    pack = content.pack
    rng = random.Random(seed)
    report = params.get("report")
    skipped: dict[str, int] = {}
    index = SectionIndex(content.sections)
    by_anchor = {s.anchor: s for s in content.sections}

    topics = [by_anchor[a] for a in params["topics"] if a in by_anchor] if params.get("topics") else \
        [s for s in content.sections if code_blocks(s.body, pack)]
    if not topics:
        return
    count = int(params.get("count", 8))
    min_tests = int(params.get("min_tests", 3))
    example = _format_example(content, pack, rng)

    def plan() -> tuple:
        topic = rng.choice(topics)
        related = index.search(f"{topic.title}\n{topic.body}", int(params.get("sections", 3)) - 1,
                               exclude=[topic.anchor])
        sections = [topic] + [h.section for h in related]
        prompt = PROMPT.format(lang=pack.name,
                               sections=format_sections(sections, max_chars=int(params.get("section_chars", 1500))),
                               topic=f"{topic.anchor} {topic.title}", min_tests=min_tests, example=example)
        return topic, sections, prompt

    model = backend_name(backend)
    seen: set[str] = set()
    batch = max(1, int(params.get("batch", BATCH)))
    # A group of prompts per model call, its candidates yielded before the next call: the
    # sandbox starts on the first answers, and a job stopped near its end has stored what
    # came before. Topics are drawn in the same order whatever the group size, and each
    # group's seed is fixed by its position, so a seed still decides every answer of a
    # deterministic backend.
    for start in range(0, count, batch):
        group = [plan() for _ in range(min(batch, count - start))]
        answers = sample(backend, [p[2] for p in group], n=int(params.get("samples", 1)), seed=seed + start,
                         temperature=float(params.get("temperature", 0.9)),
                         max_new_tokens=int(params.get("max_new_tokens", 1024)))
        for (topic, sections, _), texts in zip(group, answers):
            for text in texts:
                try:
                    task = read_task_answer(text, pack, min_tests=min_tests)
                except AnswerError as exc:
                    count_skip(report, skipped, exc.reason)
                    continue
                key = " ".join(task["instruction"].lower().split())
                if key in seen:
                    count_skip(report, skipped, "duplicate")
                    continue
                seen.add(key)
                yield Candidate(kind="self_instruct", code=task["code"], prompt=task["instruction"],
                                tests=task["tests"], entry_point=task["entry_point"], parent=f"section:{topic.anchor}",
                                model=model, metadata={"topic": topic.anchor, "sections": [s.anchor for s in sections],
                                                       "skipped_so_far": dict(skipped)})


def read_task_answer(text: str, pack, *, min_tests: int = 3) -> dict:
    """The model's task, or AnswerError(reason). Strict: exactly the four keys, of the right
    types; an entry point that is a name (not a keyword) and that the code mentions; code
    that parses; tests the pack's test compiler can write."""
    data = parse_json_object(text)
    missing = [f for f in FIELDS if f not in data]
    if missing:
        raise AnswerError("missing_field", ", ".join(missing))
    extra = sorted(set(data) - set(FIELDS))
    if extra:
        raise AnswerError("unexpected_field", ", ".join(extra))
    instruction, entry_point, code, tests = (data[f] for f in FIELDS)
    if not isinstance(instruction, str) or len(instruction.split()) < 5:
        raise AnswerError("bad_instruction")
    if not isinstance(entry_point, str) or not IDENTIFIER.fullmatch(entry_point) or entry_point in pack.keywords:
        raise AnswerError("bad_entry_point", repr(entry_point)[:40])
    if not isinstance(code, str) or not code.strip():
        raise AnswerError("empty_code")
    code = extract_code(code, pack) if "```" in code else code.strip("\n") + "\n"
    if not re.search(rf"(?<![A-Za-z0-9_]){re.escape(entry_point)}(?![A-Za-z0-9_])", code):
        raise AnswerError("entry_point_not_defined", entry_point)
    try:
        parsed = parse_tests(tests)
        compile_tests(pack.tests, entry_point, parsed, "marker")
    except (TestFormatError, KeyError, ValueError) as exc:
        raise AnswerError("bad_tests", str(exc)[:80]) from None
    if len(parsed) < min_tests:
        raise AnswerError("too_few_tests", str(len(parsed)))
    if _has_syntax_error(code, pack.grammar):
        raise AnswerError("syntax_error")
    return {"instruction": instruction.strip(), "entry_point": entry_point, "code": code,
            "tests": [{"args": list(t.args), "expected": t.expected} for t in parsed]}


def _has_syntax_error(code: str, grammar: str) -> bool:
    from curation.grammar import GrammarUnavailable, parses

    try:
        return not parses(code, grammar)
    except GrammarUnavailable:
        return False  # no grammar: the sandbox's syntax_error verdict will say


def _format_example(content, pack, rng: random.Random) -> str:
    train = [t for t in content.tasks if t.split == "train"]
    if not train:
        return ""
    task = rng.choice(train)
    example = {"instruction": task.prompt, "entry_point": task.entry_point, "code": task.reference,
               "tests": task.tests[:4]}
    return f"\nAn example of the format (write a different exercise):\n{json.dumps(example, indent=1)}\n"
