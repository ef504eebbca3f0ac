"""Doc-QA from the Lua pack's docs: cited, runnable, and telling the truth about output."""
from __future__ import annotations

import dataclasses
import json
import re

import pytest

from curation.packs import SectionData, read_pack
from sandbox import Program, run_many
from synthesis.candidates import Source
from synthesis.generators.docqa import generate, key_sentences
from tests.conftest import LUA_PACK

SECTIONS = ["§2.1", "§3.1", "§6.1", "§8.2", "§12.1"]


@pytest.fixture(scope="module")
def content():
    return read_pack(LUA_PACK)


@pytest.fixture(scope="module")
def items(content):
    return list(generate(Source(content), {"sections": SECTIONS}, seed=7))


class Completion:
    def __init__(self, text):
        self.text = text


class ScriptedBackend:
    """Answers every prompt with the same scripted completions, in order."""
    name = "scripted"

    def __init__(self, answers):
        self.answers = answers
        self.prompts = []

    def generate(self, prompts, *, n=1, temperature=0.2, max_new_tokens=256, stop=None, seed=None):
        self.prompts.extend(prompts)
        return [[Completion(a) for a in self.answers[:n]] for _ in prompts]


def test_every_docqa_answer_cites_its_section(items, content):
    anchors = {s.anchor for s in content.sections}
    assert len(items) >= 10
    for item in items:
        assert item.cited_anchors and set(item.cited_anchors) <= anchors
        assert item.metadata["section"] in item.cited_anchors
        for anchor in item.cited_anchors:
            assert f"({anchor})" in item.answer


def test_docqa_examples_run(items, content):
    examples = sorted({i.example_code for i in items})
    assert examples and all(e.strip() for e in examples)
    verdicts = {examples[i]: r.verdict.value for i, r in run_many(content.pack, [Program(e) for e in examples])}
    assert set(verdicts.values()) == {"ok"}


def test_output_answer_is_the_programs_real_output(items, content):
    outputs = [i for i in items if i.metadata["template"] == "output"]
    assert outputs
    results = dict(run_many(content.pack, [Program(i.example_code) for i in outputs]))
    for index, item in enumerate(outputs):
        stdout = results[index].stdout.rstrip("\n")
        assert f"```\n{stdout}\n```" in item.answer
        assert item.example_code in item.question


def test_each_kind_of_question_is_made(items):
    assert {i.metadata["template"] for i in items} == {"concept", "term", "output"}


def test_program_with_changing_output_is_not_asked_about(content):
    # A table's address differs from run to run: no stable answer to "what does it print?".
    section = SectionData("§99.1", "Printing tables", "Printing a table shows its address, which changes between runs.\n\n"
                          "```lua\nprint({})\n```\n", "docs/99.md", 1, 0)
    pack = dataclasses.replace(content, sections=[section])
    items = list(generate(Source(pack), {}, seed=1))
    assert items and all(i.metadata["template"] != "output" for i in items)


def test_section_sentences_skip_code_and_tables():
    body = "Some intro sentence that is long enough.\n\n| a | b |\n|---|---|\n\n```lua\nprint(1)\n```\n\nA second one, e.g. this."
    assert key_sentences(body) == ["Some intro sentence that is long enough.", "A second one, e.g. this."]


def test_model_answer_without_citation_gets_its_section_cited(content):
    answer = json.dumps({"question": "How do I make a list of three strings?",
                         "answer": "Write the values between braces, separated by commas.",
                         "example": "local t = {\"a\", \"b\", \"c\"}\nprint(#t)\n"})
    backend = ScriptedBackend([answer])
    items = [i for i in generate(Source(content), {"sections": ["§6.1"], "backend": backend}, seed=3)
             if i.metadata["template"] == "model"]
    assert len(items) == 1
    assert items[0].answer.endswith("(§6.1)") and items[0].cited_anchors == ["§6.1"]
    assert items[0].model == "scripted" and items[0].metadata["example_from"] == "model"


def test_model_answer_citing_a_section_that_does_not_exist_is_dropped(content):
    answer = json.dumps({"question": "How do I make a list of three strings?",
                         "answer": "As §42.7 says, with braces.", "example": "print(1)"})
    report = {}
    items = [i for i in generate(Source(content), {"sections": ["§6.1"], "backend": ScriptedBackend([answer]),
                                                   "report": report}, seed=3)
             if i.metadata["template"] == "model"]
    assert items == []
    assert report["skipped"]["unknown_anchor"] == 1


def test_model_example_that_fails_is_replaced_by_the_sections_block(content):
    answer = json.dumps({"question": "What happens when I call a nil value?",
                         "answer": "It raises an error (§6.1).", "example": "local f = nil\nf()\n"})
    items = [i for i in generate(Source(content), {"sections": ["§6.1"], "backend": ScriptedBackend([answer])}, seed=3)
             if i.metadata["template"] == "model"]
    assert len(items) == 1 and items[0].metadata["example_from"] == "section"
    assert re.search(r"local point = \{x = 1, y = 2\}", items[0].example_code)


def test_model_questions_are_yielded_before_every_section_is_asked(content):
    answer = json.dumps({"question": "How do I make a list of three strings?",
                         "answer": "Write the values between braces (§6.1).", "example": "print(#{1, 2, 3})"})
    backend = ScriptedBackend([answer])
    made = generate(Source(content), {"sections": SECTIONS, "backend": backend, "batch": 2}, seed=3)
    first = next(i for i in made if i.metadata["template"] == "model")
    assert first.model == "scripted" and len(backend.prompts) == 2
    list(made)
    assert len(backend.prompts) == len(SECTIONS)
