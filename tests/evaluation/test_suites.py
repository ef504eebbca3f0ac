from __future__ import annotations

import json
from pathlib import Path

import pytest

from curation.packs import read_pack
from evaluation.multiple import MultipleFormatError, read_multiple
from evaluation.suites import docqa_suite, errfix_suite, multiple_suite, pack_suite
from tests.conftest import LUA_PACK

HUMANEVAL_LUA = Path("/work/shared/benchmarks/multipl-e/humaneval-lua.jsonl")
GOOD = {"name": "HumanEval_0_f", "language": "lua", "prompt": "local function f(x)\n", "doctests": "transform",
        "original": "x.py", "prompt_terminology": "reworded",
        "tests": "lu = require('luaunit')\nfunction test_humaneval()\n  lu.assertEquals(f(1), 1)\nend\n"
                 "os.exit(lu.LuaUnit.run())",
        "stop_tokens": ["\nlocal", "\n\n"]}


@pytest.fixture(scope="module")
def content():
    return read_pack(LUA_PACK)


def _write(tmp_path: Path, lines: list[bytes]) -> Path:
    path = tmp_path / "suite.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _line(**changes) -> bytes:
    record = dict(GOOD, **changes)
    return json.dumps({k: v for k, v in record.items() if v is not ...}).encode()


def _error(tmp_path, lines) -> MultipleFormatError:
    with pytest.raises(MultipleFormatError) as caught:
        read_multiple(_write(tmp_path, lines))
    return caught.value


def test_humaneval_lua_loads_161_evaluation_only_problems():
    problems = multiple_suite(HUMANEVAL_LUA, language="lua")
    assert len(problems) == 161
    assert len({p.id for p in problems}) == 161
    assert all(p.evaluation_only and p.restriction == "licence" and "not for training" in p.licence for p in problems)
    first = next(p for p in problems if p.id.endswith("HumanEval_0_has_close_elements"))
    assert first.entry_point == "has_close_elements"
    assert first.variant == "completion" and first.test_code.startswith("lu = require('luaunit')")
    assert first.stop_tokens == ("\nlocal", "\nfunction", "\n--", "\n\n")
    assert first.reference is None and first.known_wrong == "end\n"


def test_multiple_file_with_missing_field_names_line(tmp_path):
    error = _error(tmp_path, [_line(), _line(name="HumanEval_1_g", tests=...)])
    assert error.line == 2 and error.field == "tests"
    assert ":2 [tests]: missing field" in str(error)


def test_multiple_file_with_bad_json_names_line(tmp_path):
    error = _error(tmp_path, [_line(), _line(name="HumanEval_1_g"), b'{"name": "x", '])
    assert error.line == 3 and "not valid JSON" in str(error)


def test_multiple_file_with_wrong_field_type_names_field(tmp_path):
    error = _error(tmp_path, [_line(stop_tokens="\n\n")])
    assert error.line == 1 and error.field == "stop_tokens"


def test_multiple_file_with_nul_byte_is_refused(tmp_path):
    raw = _error(tmp_path, [_line(), _line(name="HumanEval_1_g").replace(b"local", b"lo\x00cal", 1)])
    assert raw.line == 2 and "NUL" in str(raw)
    escaped = _error(tmp_path, [_line(prompt="local function f(x)\u0000\n")])
    assert escaped.line == 1 and escaped.field == "prompt"


def test_multiple_file_in_another_encoding_is_refused(tmp_path):
    latin1 = _line(prompt="-- caf\u00e9\nlocal function f(x)\n")
    latin1 = latin1.replace("caf\\u00e9".encode(), "café".encode("latin-1"))
    error = _error(tmp_path, [_line(name="HumanEval_1_g"), latin1])
    assert error.line == 2 and "not UTF-8" in str(error)


def test_oversized_multiple_file_is_refused(tmp_path):
    path = _write(tmp_path, [_line(), _line(name="HumanEval_1_g", prompt="-- " + "x" * 5000 + "\n")])
    with pytest.raises(MultipleFormatError, match="over the limit") as caught:
        read_multiple(path, max_line_bytes=4096)
    assert caught.value.line == 2
    with pytest.raises(MultipleFormatError, match="over the limit"):
        read_multiple(path, max_bytes=1000)


def test_multiple_file_with_duplicate_names_or_another_language_is_refused(tmp_path):
    assert _error(tmp_path, [_line(), _line()]).field == "name"
    with pytest.raises(MultipleFormatError) as caught:
        read_multiple(_write(tmp_path, [_line(language="py")]), language="lua")
    assert caught.value.field == "language"


def test_pack_suite_holds_dev_and_test_never_train(content):
    problems = pack_suite(content)
    splits = {p.metadata["split"] for p in problems}
    assert splits == {"dev", "test"}
    assert len(problems) == sum(1 for t in content.tasks if t.split in ("dev", "test"))
    assert all(p.tests and p.reference and p.evaluation_only for p in problems)
    with pytest.raises(ValueError, match="train"):
        pack_suite(content, splits=("train",))


def test_completion_variant_prompts_with_the_signature(content):
    problems = pack_suite(content, variant="completion")
    for problem in problems:
        last = problem.prompt.rstrip("\n").splitlines()[-1]
        assert problem.entry_point in last
        assert problem.prompt.startswith("-- ")
        assert problem.stop_tokens and all(t.startswith("\n") for t in problem.stop_tokens)


def test_errfix_problems_carry_the_real_error_message(content):
    problems = errfix_suite(content, splits=("dev",))
    assert len(problems) == sum(1 for t in content.tasks if t.split == "dev")
    kinds = {p.metadata["mutation"] for p in problems}
    assert {"misspelled_name", "dropped_token"} <= kinds
    for problem in problems:
        task_reference = next(t.reference for t in content.tasks if t.name == problem.metadata["task"])
        assert problem.known_wrong != task_reference and problem.reference == task_reference
        message = problem.metadata["message"]
        assert message and message in problem.prompt and problem.known_wrong.strip() in problem.prompt
        if problem.metadata["mutation"] == "dropped_token":
            assert problem.metadata["broken_verdict"] == "syntax_error"
        if problem.metadata["mutation"] == "misspelled_name":
            assert problem.metadata["broken_verdict"] == "runtime_error" and "prog.lua:" in message


def test_docqa_suite_asks_one_question_per_section(content):
    problems = docqa_suite(content)
    anchors = [p.anchors[0] for p in problems]
    assert len(anchors) == len(set(anchors)) > 40
    known = {s.anchor for s in content.sections}
    assert set(anchors) <= known
    assert all(p.reference.endswith(f"({p.anchors[0]})") and p.anchors[0] not in p.known_wrong for p in problems)
