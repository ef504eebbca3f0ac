"""Back-translation: code -> description -> code.

For each runnable example of the pack and each accepted sample's code, the model first
describes the program, then writes programs from that description alone. A regenerated
program becomes Candidate(kind="backtranslate", prompt=<description>, code=<program>),
checked against the original (metadata["check"]):
- "output": the original is a whole program (it does something at top level, not only
  defines): the candidate is `equivalent_to` it, and the pipeline keeps it only if it
  prints the same;
- "tests": the original only defines functions but came with tests (an accepted
  transpiled or self-instructed sample; `params["accepted_tests"]`): the model is asked
  for a function of the same name, the prompt names it, and the candidate carries the
  original's tests, so the pipeline keeps it only if it passes them;
- "runs": definitions without tests: nothing to compare, so running cleanly is all the
  pipeline can ask (a reviewer sees the check in the metadata).
The description is the valuable half: a natural-language prompt that provably matches
working code.

params:
  backend (required), k: regenerations per description (default 2),
  temperature (default 0.7; descriptions are sampled at 0.2), limit: at most this many originals,
  include_examples (default True), include_accepted (default True),
  max_description_tokens (default 384), max_new_tokens (default 768),
  batch: originals per pair of backend calls (default 8; each group's candidates are
  yielded before the next group is described),
  report: a dict the generator fills with skip counts,
  accepted_tests: accepted code -> {"tests", "entry_point"} (the synthesis task fills it)
"""
from __future__ import annotations

import random
from typing import Iterator, NamedTuple

from synthesis.candidates import Candidate, Source
from synthesis.prompts import FENCE_BLOCK, backend_name, count_skip, extract_code, fenced, sample

DESCRIBE = """Here is a {lang} program.

{code}

Describe precisely what it does, so that a programmer could write an equivalent {lang} program from your description alone: what it computes, and exactly what it prints, in which order and format. Do not include any code. Reply with the description only."""

REGENERATE = """Write a complete {lang} program that does the following.

{description}

Reply with the {lang} code only, in a ```{slug} block."""

REGENERATE_FUNCTION = """Write a {lang} function `{entry_point}` that does the following.

{description}

Reply with the {lang} code only, in a ```{slug} block."""

# Originals per pair of model calls (see generate). Small enough that the first candidates
# reach the sandbox early; large enough that a local backend still batches its decoding.
BATCH = 8

# Node kinds that only define things. A whole program has some other top-level node (a call,
# a loop, an assignment) — the suffixes are common to tree-sitter grammars, not one language.
DEFINITION_SUFFIXES = ("declaration", "definition", "comment", "import", "package_clause")


class Original(NamedTuple):
    parent: str  # "example:<name>" or "accepted:<i>"
    code: str
    whole: bool  # a whole program: compared by output
    tests: dict | None = None  # {"tests", "entry_point"} of a function-only original


def generate(source: Source, params: dict, seed: int) -> Iterator[Candidate]:
    backend = params.get("backend")
    if backend is None:
        raise ValueError("backtranslate.roundtrip needs params['backend'], a model backend")
    content = source.content
    pack = content.pack
    report = params.get("report")
    skipped: dict[str, int] = {}

    tested = params.get("accepted_tests") or {}
    originals: list[Original] = []
    if params.get("include_examples", True):
        originals += [Original(f"example:{e.name}", e.code, True) for e in content.examples if e.runnable]
    if params.get("include_accepted", True):
        for i, code in enumerate(source.accepted):
            if code.strip():
                whole = is_whole_program(code, pack)
                originals.append(Original(f"accepted:{i}", code, whole, None if whole else tested.get(code)))
    if params.get("limit") is not None:
        random.Random(seed).shuffle(originals)
        originals = originals[: int(params["limit"])]
    if not originals:
        return

    model = backend_name(backend)
    k = int(params.get("k", 2))
    batch = max(1, int(params.get("batch", BATCH)))
    # A group of originals at a time — described, regenerated, its candidates yielded —
    # before the next group is described: the sandbox starts on the first programs, and a
    # job stopped near its end has stored what came before. Seeds are fixed by the group's
    # position (two per group: descriptions, programs), so a seed still decides every
    # answer of a deterministic backend.
    for start in range(0, len(originals), batch):
        group = originals[start:start + batch]
        descriptions = sample(backend, [DESCRIBE.format(lang=pack.name, code=fenced(o.code, pack)) for o in group],
                              n=1, seed=seed + 2 * start, temperature=0.2,
                              max_new_tokens=int(params.get("max_description_tokens", 384)))
        kept = []
        for original, texts in zip(group, descriptions):
            description = texts[0].strip() if texts else ""
            reason = description_problem(description, original.code)
            if reason:
                count_skip(report, skipped, reason)
                continue
            kept.append((original, description))
        if not kept:
            continue
        programs = sample(backend, [_regenerate_prompt(o, d, pack) for o, d in kept],
                          n=k, seed=seed + 2 * start + 1, temperature=float(params.get("temperature", 0.7)),
                          max_new_tokens=int(params.get("max_new_tokens", 768)))
        for (original, description), texts in zip(kept, programs):
            seen: set[str] = set()
            check = "output" if original.whole else "tests" if original.tests else "runs"
            tests = original.tests or {}
            prompt = description
            if tests:
                # The tests call the function by name: the prompt a trained model sees must say it.
                prompt = f"{description}\n\nWrite it as a {pack.name} function named `{tests['entry_point']}`."
            for i, text in enumerate(texts):
                code = extract_code(text, pack)
                if not code.strip():
                    count_skip(report, skipped, "empty_code")
                    continue
                if code in seen:
                    continue
                seen.add(code)
                yield Candidate(kind="backtranslate", code=code, prompt=prompt,
                                equivalent_to=original.code if original.whole else None,
                                tests=tests.get("tests"), entry_point=tests.get("entry_point"),
                                parent=original.parent, model=model,
                                metadata={"sample": i, "whole_program": original.whole, "check": check,
                                          "skipped_so_far": dict(skipped)})


# The synthesis task reads the accepted samples' tests for this generator (params["accepted_tests"]).
generate.reads_accepted_tests = True


def _regenerate_prompt(original: Original, description: str, pack) -> str:
    if original.tests:
        return REGENERATE_FUNCTION.format(lang=pack.name, slug=pack.slug, description=description,
                                          entry_point=original.tests["entry_point"])
    return REGENERATE.format(lang=pack.name, slug=pack.slug, description=description)


def description_problem(description: str, original: str) -> str | None:
    """Why a description cannot be a prompt, or None. A description with code in it would
    make the regeneration a copy, not a translation."""
    if len(description.split()) < 5:
        return "description_too_short"
    if FENCE_BLOCK.search(description) or "```" in description:
        return "description_has_code"
    lines = [line.strip() for line in original.splitlines() if len(line.strip()) >= 20]
    if any(line in description for line in lines):
        return "description_has_code"
    return None


def is_whole_program(code: str, pack) -> bool:
    """True when the program does something at top level rather than only defining
    functions; unknown grammar: assume it does (the equivalence check is then merely strict)."""
    from curation.grammar import GrammarUnavailable, parse

    try:
        root = parse(code, pack.grammar).root_node
    except GrammarUnavailable:
        return True
    return any(not child.type.endswith(DEFINITION_SUFFIXES) for child in root.named_children)
