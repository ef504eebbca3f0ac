"""Doc-QA: questions answered from the pack's doc sections, every answer citing its anchors.

Without a model the questions come from the section itself:
- "concept": a question about the section's title, answered by its opening sentences;
- "term": a sentence that defines a `code term` ("`#t` returns ...") becomes "What does
  `#t` do?", answered by that sentence;
- "output": "What does this program print?" over one of the section's code blocks, answered
  with the stdout recorded by really running the block (twice: a block whose output
  differs between runs — addresses, clocks — never becomes an output question).
With `params["backend"]` a model also writes one question per section from its text.

Every item carries `example_code`, a block that ran `ok` (when execution is on), and
every answer ends with its citation "(§3.2)". Nothing here is specific to a language:
blocks are the fences tagged with the pack's slug / grammar / extension, or untagged.

params:
  sections: list of anchors to use (default: every section)
  limit: at most this many sections, after `sections`
  execute: run blocks (default True); without it no output questions are made and
           examples are unverified (the pipeline still runs them)
  verify_runs: how many runs must agree on stdout for an output question (default 2)
  max_output_chars: longest stdout worth asking about (default 600)
  terms_per_section: at most this many "term" questions per section (default 2)
  backend, samples (default 1), temperature (default 0.7): the model-driven variant;
  batch: sections per model call (default 8; each call's questions are yielded before the next)
  run_many: the sandbox's batch runner (default sandbox.run_many)
  report: a dict the generator fills with counts of what it skipped and why
"""
from __future__ import annotations

import random
import re
from typing import Iterator

from curation.packs import cited_anchors
from synthesis.candidates import DocQACandidate, Source
from synthesis.prompts import (AnswerError, backend_name, code_blocks, count_skip, fenced, parse_json_object,
                               sample, strip_fences)

SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`*(\"'])")
ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "cf.")
TERM = re.compile(
    r"^`(?P<term>[^`\n]{1,40})`\s+(?P<verb>is|are|returns|creates|gives|yields|converts|removes|inserts|raises|"
    r"calls|sets|reads|writes|prints|makes|checks|tests|runs|starts|stops|ends|computes|builds|joins|"
    r"splits|finds|matches|replaces|formats|sorts|turns|produces|evaluates|declares|defines|means)\b")

CONCEPT_TEMPLATES = (
    "How do you use {topic} in {lang}?",
    "What should I know about {topic} in {lang}?",
    "Explain {topic} in {lang}.",
    "What does the {lang} reference say about {topic}?",
)


def generate(source: Source, params: dict, seed: int) -> Iterator[DocQACandidate]:
    content = source.content
    pack = content.pack
    rng = random.Random(seed)
    report = params.get("report")
    skipped: dict[str, int] = {}

    sections = list(content.sections)
    if params.get("sections"):
        wanted = set(params["sections"])
        sections = [s for s in sections if s.anchor in wanted]
    if params.get("limit") is not None:
        sections = sections[: int(params["limit"])]

    blocks = {s.anchor: code_blocks(s.body, pack) for s in sections}
    execute = params.get("execute", True)
    outputs: dict[str, tuple[bool, str | None]] = {}
    if execute:
        every = sorted({b for bs in blocks.values() for b in bs})
        outputs = _run_blocks(pack, every, params.get("run_many"), int(params.get("verify_runs", 2)))

    def runnable(code: str) -> bool:
        return not execute or outputs.get(code, (False, None))[0]

    seen_questions: set[str] = set()

    def fresh(question: str) -> bool:
        key = " ".join(question.lower().split())
        if key in seen_questions:
            count_skip(report, skipped, "duplicate_question")
            return False
        seen_questions.add(key)
        return True

    max_output = int(params.get("max_output_chars", 600))
    per_section_terms = int(params.get("terms_per_section", 2))
    for section in sections:
        good = [b for b in blocks[section.anchor] if runnable(b)]
        if not good:
            count_skip(report, skipped, "no_runnable_block")
            continue
        sentences = key_sentences(section.body)
        base_meta = {"section": section.anchor, "source_file": section.source_file}

        if sentences:
            topic = _topic(section.title)
            question = rng.choice(CONCEPT_TEMPLATES).format(topic=topic, lang=pack.name)
            if fresh(question):
                answer = f"{' '.join(sentences[:3])} ({section.anchor})\n\nFor example:\n\n{fenced(good[0], pack)}"
                yield DocQACandidate(question, answer, [section.anchor], example_code=good[0],
                                     metadata={**base_meta, "template": "concept"})

        terms = 0
        for sentence in sentences:
            if terms >= per_section_terms:
                break
            match = TERM.match(sentence)
            if not match:
                continue
            term, verb = match.group("term"), match.group("verb")
            what = "What is" if verb in ("is", "are") else "What does"
            tail = "" if verb in ("is", "are") else " do"
            question = f"{what} `{term}`{tail} in {pack.name}?"
            if not fresh(question):
                continue
            name = re.split(r"[\s(]", term, maxsplit=1)[0]
            example = next((b for b in good if name and name in b), good[0])
            answer = f"{sentence} ({section.anchor})\n\nFor example:\n\n{fenced(example, pack)}"
            terms += 1
            yield DocQACandidate(question, answer, [section.anchor], example_code=example,
                                 metadata={**base_meta, "template": "term", "term": term})

        if execute and params.get("output_questions", True):
            for block in good:
                stdout = outputs[block][1]
                if stdout is None:
                    count_skip(report, skipped, "output_unstable")
                    continue
                if not stdout.strip() or len(stdout) > max_output:
                    count_skip(report, skipped, "output_empty_or_long")
                    continue
                question = f"What does this {pack.name} program print?\n\n{fenced(block, pack)}"
                if not fresh(question):
                    continue
                lead = sentences[0] if sentences else section.title
                answer = (f"It prints:\n\n```\n{stdout.rstrip(chr(10))}\n```\n\n"
                          f"{section.title}: {lead} ({section.anchor})")
                yield DocQACandidate(question, answer, [section.anchor], example_code=block,
                                     metadata={**base_meta, "template": "output", "expected_stdout": stdout})

    backend = params.get("backend")
    if backend is not None:
        yield from _model_questions(source, sections, blocks, outputs if execute else None, params, seed,
                                    report, skipped, fresh)


# ---------------------------------------------------------------- extraction

def key_sentences(body: str) -> list[str]:
    """The section's prose as sentences; code fences, tables and headings removed. A
    paragraph break ends a sentence even without a full stop (a word list, a label)."""
    paragraphs: list[list[str]] = [[]]
    for line in strip_fences(body).splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(("|", "#", ">")):
            paragraphs.append([])
            continue
        item = re.match(r"^([-*+]|\d+\.)\s+", stripped)
        if item:  # each list item is its own paragraph
            paragraphs.append([])
            stripped = stripped[item.end():]
        paragraphs[-1].append(stripped)
    sentences = []
    for paragraph in paragraphs:
        prose = re.sub(r"\s+", " ", " ".join(paragraph)).strip()
        if not prose:
            continue
        for i, abbreviation in enumerate(ABBREVIATIONS):
            prose = prose.replace(abbreviation, f"\x00{i}\x00")
        for sentence in SENTENCE_END.split(prose):
            for i, abbreviation in enumerate(ABBREVIATIONS):
                sentence = sentence.replace(f"\x00{i}\x00", abbreviation)
            sentence = sentence.strip()
            # A fragment without a full stop (a list's lead-in, a word list) is not an answer.
            if len(sentence) >= 20 and sentence[-1] in ".!?":
                sentences.append(sentence)
    return sentences


def _topic(title: str) -> str:
    # "Table constructors" -> "table constructors"; "UTF-8 strings", "`goto`" stay as written.
    first = title.split(" ", 1)[0]
    if first[:1].isupper() and first[1:].islower():
        return first.lower() + title[len(first):]
    return title


def _run_blocks(pack, blocks: list[str], run_many, runs: int) -> dict[str, tuple[bool, str | None]]:
    """Per block: (ran ok every time, its stdout — or None when it differed between runs)."""
    if not blocks:
        return {}
    if run_many is None:
        from sandbox import run_many
    from sandbox import Program

    programs = [Program(b) for b in blocks for _ in range(max(1, runs))]
    results: dict[int, object] = dict(run_many(pack, programs))
    outputs: dict[str, tuple[bool, str | None]] = {}
    for i, block in enumerate(blocks):
        mine = [results[i * max(1, runs) + r] for r in range(max(1, runs))]
        ok = all(_verdict(r) == "ok" and not r.stdout_truncated for r in mine)
        stable = len({r.stdout for r in mine}) == 1
        outputs[block] = (ok, mine[0].stdout if ok and stable else None)
    return outputs


def _verdict(result) -> str:
    verdict = result.verdict
    return str(getattr(verdict, "value", verdict))


# ---------------------------------------------------------------- the model-driven variant

MODEL_PROMPT = """You write study questions about the {lang} programming language, answered ONLY from the reference section below.

{anchor} {title}
{body}

Reply with one JSON object and nothing else:
{{"question": "<a question a {lang} programmer would ask that this section answers>",
  "answer": "<the answer, using only facts from the section, ending with the citation ({anchor})>",
  "example": "<a complete, runnable {lang} program that illustrates the answer and prints something>"}}
"""


# Sections per model call: each call's questions are checked and yielded before the next
# call, so the sandbox starts on the first answers and a job stopped near its end keeps
# what came before (as self_instruct does).
MODEL_BATCH = 8


def _model_questions(source, sections, blocks, outputs, params, seed, report, skipped, fresh):
    pack = source.content.pack
    known = {s.anchor for s in source.content.sections}
    batch = max(1, int(params.get("batch", MODEL_BATCH)))
    for start in range(0, len(sections), batch):
        # Each group's seed is fixed by its position: a seed still decides every answer of
        # a deterministic backend, whatever came back for the groups before.
        yield from _model_group(pack, known, sections[start:start + batch], blocks, outputs, params, seed + start,
                                report, skipped, fresh)


def _model_group(pack, known, sections, blocks, outputs, params, seed, report, skipped, fresh):
    backend = params["backend"]
    model = backend_name(backend)
    prompts = [MODEL_PROMPT.format(lang=pack.name, anchor=s.anchor, title=s.title, body=s.body) for s in sections]
    answers = sample(backend, prompts, n=int(params.get("samples", 1)), seed=seed,
                     temperature=float(params.get("temperature", 0.7)),
                     max_new_tokens=int(params.get("max_new_tokens", 768)))
    parsed: list[tuple] = []
    examples_to_check: set[str] = set()
    for section, texts in zip(sections, answers):
        for text in texts:
            try:
                item = _read_model_answer(text, section.anchor, known, pack)
            except AnswerError as exc:
                count_skip(report, skipped, exc.reason)
                continue
            parsed.append((section, item))
            if item["example"]:
                examples_to_check.add(item["example"])
    checked: dict[str, tuple[bool, str | None]] = {}
    if outputs is not None and examples_to_check:
        checked = _run_blocks(pack, sorted(examples_to_check), params.get("run_many"), 1)
    for section, item in parsed:
        example, origin = item["example"], "model"
        if outputs is not None and (not example or not checked.get(example, (False, None))[0]):
            runnable = [b for b in blocks[section.anchor] if outputs.get(b, (False, None))[0]]
            example, origin = (runnable[0], "section") if runnable else ("", "")
        elif not example:
            example, origin = (blocks[section.anchor][0], "section") if blocks[section.anchor] else ("", "")
        if not example:
            count_skip(report, skipped, "no_runnable_example")
            continue
        if not fresh(item["question"]):
            continue
        yield DocQACandidate(item["question"], item["answer"], item["anchors"], example_code=example, model=model,
                             metadata={"section": section.anchor, "source_file": section.source_file,
                                       "template": "model", "example_from": origin,
                                       "citation_added": item["citation_added"]})


def _read_model_answer(text: str, anchor: str, known: set[str], pack) -> dict:
    from synthesis.prompts import extract_code

    data = parse_json_object(text)
    question, answer, example = data.get("question"), data.get("answer"), data.get("example", "")
    if not isinstance(question, str) or len(question.strip()) < 10:
        raise AnswerError("bad_question")
    if not isinstance(answer, str) or len(answer.strip()) < 10:
        raise AnswerError("bad_answer")
    if example is None:
        example = ""
    if not isinstance(example, str):
        raise AnswerError("bad_example")
    cited = cited_anchors(answer)
    unknown = [a for a in cited if a not in known]
    if unknown:
        # A citation of a section that does not exist is a made-up source: drop the item.
        raise AnswerError("unknown_anchor", ", ".join(unknown))
    answer = answer.strip()
    added = anchor not in cited
    if added:
        # The model saw only this section, so citing it is true even when the model forgot.
        answer = f"{answer} ({anchor})"
        cited.insert(0, anchor)
    example = extract_code(example, pack) if example.strip() else ""
    return {"question": question.strip(), "answer": answer, "example": example, "anchors": cited,
            "citation_added": added}
