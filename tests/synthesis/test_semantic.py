"""Semantic synthesis: task functions on drawn inputs, with the properties that held in the sandbox."""
from __future__ import annotations

import dataclasses

import pytest

from curation.packs import TaskData, read_pack
from sandbox import Program, run_many
from synthesis.candidates import Source
from synthesis.generators.semantic import boundary, draw, infer, properties
from synthesis.registry import get_generator
from tests.conftest import LUA_PACK

SHOW = '''local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) ~= "table" then return tostring(v) end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    if type(a) ~= type(b) then return type(a) < type(b) end
    if type(a) == "number" or type(a) == "string" then return a < b end
    return tostring(a) < tostring(b)
  end)
  local parts = {}
  for i, k in ipairs(keys) do
    parts[i] = k == i and show(v[k]) or "[" .. show(k) .. "] = " .. show(v[k])
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end'''
TEMPLATES = {"print": "print({value})", "show": "show({value})", "show_prelude": SHOW}


def _task(name, entry_point, reference, tests, split="train"):
    return TaskData(name=name, split=split, category="t", prompt=f"Write `{entry_point}`.", entry_point=entry_point,
                    tests=tests, reference=reference, wrong="", path=f"tasks/{split}/{name}.toml")


SORTED_SET = _task("sorted_set", "sorted_set", '''function sorted_set(xs)
  local seen, out = {}, {}
  for _, x in ipairs(xs) do
    if not seen[x] then seen[x] = true; out[#out + 1] = x end
  end
  table.sort(out)
  return out
end
''', [{"args": [[3, 1, 3, 2]], "expected": [1, 2, 3]}, {"args": [[]], "expected": []},
      {"args": [[5, 5]], "expected": [5]}])
ADD = _task("add", "add", "function add(a, b) return a + b end\n",
            [{"args": [1, 2], "expected": 3}, {"args": [-4, 10], "expected": 6}, {"args": [0, 0], "expected": 0}])
SUB = _task("sub", "sub", "function sub(a, b) return a - b end\n",
            [{"args": [5, 2], "expected": 3}, {"args": [-4, 10], "expected": -14}, {"args": [9, 0], "expected": 9}])
FIRST = _task("first", "first", '''function first(xs)
  if #xs == 0 then error("empty list") end
  return xs[1]
end
''', [{"args": [[4, 5]], "expected": 4}, {"args": [[7]], "expected": 7}])
HELD_OUT = _task("held_out_add", "add", "function add(a, b) return a + b end\n",
                 [{"args": [1, 2], "expected": 3}], split="test")


def _source() -> Source:
    content = read_pack(LUA_PACK)
    return Source(dataclasses.replace(content, tasks=[SORTED_SET, ADD, SUB, FIRST, HELD_OUT]))


@pytest.fixture(scope="module")
def source() -> Source:
    return _source()


@pytest.fixture(scope="module")
def candidates(source):
    return {c.parent: c for c in properties(source, {"synthesis": TEMPLATES, "inputs": 6}, seed=1)}


def test_each_training_task_gets_a_program(candidates):
    assert set(candidates) == {"task:sorted_set", "task:add", "task:sub", "task:first"}
    assert all(c.kind == "semantic" and c.expect == "ok" for c in candidates.values())


def test_programs_print_one_result_per_drawn_input(source, candidates):
    results = dict(run_many(source.pack, [Program(c.code) for c in candidates.values()]))
    for index, c in enumerate(candidates.values()):
        assert results[index].ok
        assert results[index].stdout == "".join(call["output"] for call in c.metadata["calls"])
        assert len(c.metadata["calls"]) >= 3


def test_idempotence_is_recorded_only_where_it_held(candidates):
    assert "idempotent" in candidates["task:sorted_set"].metadata["property"]
    assert "idempotent" not in candidates["task:first"].metadata.get("property", [])


def test_commutativity_is_recorded_only_where_it_held(candidates):
    assert "commutative" in candidates["task:add"].metadata["property"]
    assert "commutative" in candidates["task:sub"].metadata["checked"]
    assert "commutative" not in candidates["task:sub"].metadata.get("property", [])


def test_boundary_input_comes_first_when_the_function_handles_it(candidates):
    sorted_set = candidates["task:sorted_set"]
    assert sorted_set.metadata["calls"][0]["args"] == [[]]
    assert sorted_set.metadata["boundary"]["output"] == "{}\n"
    first = candidates["task:first"]
    assert "boundary" not in first.metadata.get("property", [])
    assert [[]] not in [call["args"] for call in first.metadata["calls"]]


def test_structured_results_are_printed_with_the_show_template(candidates):
    assert "local function show(v)" in candidates["task:sorted_set"].code
    assert "local function show(v)" not in candidates["task:add"].code


def test_inputs_follow_the_shapes_of_the_tests(candidates):
    for call in candidates["task:add"].metadata["calls"]:
        assert len(call["args"]) == 2 and all(isinstance(a, int) for a in call["args"])
        assert all(-4 <= a <= 10 for a in call["args"])
    for call in candidates["task:sorted_set"].metadata["calls"]:
        assert isinstance(call["args"][0], list) and all(isinstance(x, int) for x in call["args"][0])


def test_shapes_are_inferred_from_json_values():
    shape = infer([[{"name": "ann", "score": 90}], []])
    assert shape.kind == "list" and shape.item.kind == "record" and set(shape.item.fields) == {"name", "score"}
    assert infer([1, 2.5]).kind == "float"
    assert infer(["a", None]).kind == "union"
    assert boundary(infer([[1], [2, 3]])) == [] and boundary(infer(["x"])) == ""


def test_same_seed_gives_same_inputs(source):
    import random

    shape = infer([[1, 2, 3], [4]])
    assert [draw(shape, random.Random(3)) for _ in range(5)] == [draw(shape, random.Random(3)) for _ in range(5)]
    first = [c.code for c in properties(source, {"synthesis": TEMPLATES}, seed=4)]
    assert first == [c.code for c in properties(source, {"synthesis": TEMPLATES}, seed=4)]
    assert first != [c.code for c in properties(source, {"synthesis": TEMPLATES}, seed=5)]


def test_same_seed_gives_same_inputs_in_a_fresh_process(source, tmp_path):
    # A retried job, maybe on another worker, regenerates its stored chunks to skip them.
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = ("import sys; sys.path.insert(0, %r)\n"
              "from synthesis.generators.semantic import properties\n"
              "from tests.synthesis.test_semantic import TEMPLATES, _source\n"
              "for c in properties(_source(), {'synthesis': TEMPLATES}, seed=4):\n"
              "    print(repr(c.code))\n") % str(Path(__file__).resolve().parents[2])
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONHASHSEED": "random"})
    assert out.returncode == 0, out.stderr[-2000:]
    here = [repr(c.code) for c in properties(source, {"synthesis": TEMPLATES}, seed=4)]
    assert out.stdout.splitlines() == here


def test_held_out_tasks_are_never_used(candidates):
    assert "task:held_out_add" not in candidates


def test_real_pack_tasks_yield_programs_that_run():
    source = Source(read_pack(LUA_PACK))
    made = list(properties(source, {"synthesis": TEMPLATES, "count": 12, "inputs": 3}, seed=2))
    assert len(made) >= 10
    results = dict(run_many(source.pack, [Program(c.code) for c in made]))
    assert all(r.ok for r in results.values())


def test_generator_is_registered():
    assert get_generator("semantic.properties") is properties
