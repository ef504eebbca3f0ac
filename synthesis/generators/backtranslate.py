"""Back-translation: code -> description -> code.

For each runnable example of the pack and each accepted sample's code, the model first
describes the program, then writes programs from that description alone. A regenerated
program becomes Candidate(kind="backtranslate", prompt=<description>, code=<program>); when
the original is a whole program (it does something at top level, not only defines), the
candidate is `equivalent_to` the original, so the pipeline keeps it only if it prints the
same. The description is the valuable half: a natural-language prompt that provably
matches working code.

params:
  backend (required), k: regenerations per description (default 2),
  temperature (default 0.7; descriptions are sampled at 0.2), limit: at most this many originals,
  include_examples (default True), include_accepted (default True),
  report: a dict the generator fills with skip counts
"""
from __future__ import annotations

import random
from typing import Iterator

from synthesis.candidates import Candidate, Source
from synthesis.prompts import FENCE_BLOCK, backend_name, count_skip, extract_code, fenced, sample

DESCRIBE = """Here is a {lang} program.

{code}

Describe precisely what it does, so that a programmer could write an equivalent {lang} program from your description alone: what it computes, and exactly what it prints, in which order and format. Do not include any code. Reply with the description only."""

REGENERATE = """Write a complete {lang} program that does the following.

{description}

Reply with the {lang} code only, in a ```{slug} block."""

# Node kinds that only define things. A whole program has some other top-level node (a call,
# a loop, an assignment) — the suffixes are common to tree-sitter grammars, not one language.
DEFINITION_SUFFIXES = ("declaration", "definition", "comment", "import", "package_clause")


def generate(source: Source, params: dict, seed: int) -> Iterator[Candidate]:
    backend = params.get("backend")
    if backend is None:
        raise ValueError("backtranslate.roundtrip needs params['backend'], a model backend")
    content = source.content
    pack = content.pack
    report = params.get("report")
    skipped: dict[str, int] = {}

    originals: list[tuple[str, str, bool]] = []  # (parent, code, whole program?)
    if params.get("include_examples", True):
        originals += [(f"example:{e.name}", e.code, True) for e in content.examples if e.runnable]
    if params.get("include_accepted", True):
        originals += [(f"accepted:{i}", code, is_whole_program(code, pack)) for i, code in enumerate(source.accepted)
                      if code.strip()]
    if params.get("limit") is not None:
        random.Random(seed).shuffle(originals)
        originals = originals[: int(params["limit"])]
    if not originals:
        return

    model = backend_name(backend)
    descriptions = sample(backend, [DESCRIBE.format(lang=pack.name, code=fenced(c, pack)) for _, c, _ in originals],
                          n=1, seed=seed, temperature=0.2,
                          max_new_tokens=int(params.get("max_description_tokens", 384)))
    kept = []
    for original, texts in zip(originals, descriptions):
        description = texts[0].strip() if texts else ""
        reason = description_problem(description, original[1])
        if reason:
            count_skip(report, skipped, reason)
            continue
        kept.append((original, description))
    if not kept:
        return

    programs = sample(backend, [REGENERATE.format(lang=pack.name, slug=pack.slug, description=d) for _, d in kept],
                      n=int(params.get("k", 2)), seed=seed + 1, temperature=float(params.get("temperature", 0.7)),
                      max_new_tokens=int(params.get("max_new_tokens", 768)))
    for ((parent, original, whole), description), texts in zip(kept, programs):
        seen: set[str] = set()
        for i, text in enumerate(texts):
            code = extract_code(text, pack)
            if not code.strip():
                count_skip(report, skipped, "empty_code")
                continue
            if code in seen:
                continue
            seen.add(code)
            yield Candidate(kind="backtranslate", code=code, prompt=description,
                            equivalent_to=original if whole else None, parent=parent, model=model,
                            metadata={"sample": i, "whole_program": whole, "skipped_so_far": dict(skipped)})


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
