"""Suites and runs through the actions: what a PM or a CLI user would notice."""
from __future__ import annotations

import pytest

from curation.models import Language, Task
from evaluation.actions import (EvaluationRefused, do_import_multiple, do_start_auto_runs, do_start_run,
                                do_start_uplift, do_sync_pack_suites)
from evaluation.metrics import pass_at_k
from evaluation.models import EvalRun, Suite
from tests.evaluation.conftest import HUMANEVAL_LUA, make_checkpoint, run_now

pytestmark = pytest.mark.django_db


def test_pack_suites_hold_dev_and_test_tasks_never_train(lua, pack_suites):
    assert set(pack_suites) == {"lua-dev", "lua-test", "lua-test-completion", "lua-errfix", "lua-docqa"}
    keys = [p.key for s in pack_suites.values() for p in s.problems.all()]
    assert keys and not any("/train/" in key for key in keys)
    assert pack_suites["lua-test"].problems.count() == lua.tasks.filter(split="test", source="pack").count()


def test_building_pack_suites_again_changes_nothing(lua, pack_suites):
    before = {s.name: (s.digest, list(s.problems.values_list("pk", flat=True))) for s in pack_suites.values()}
    again = {s.name: (s.digest, list(s.problems.values_list("pk", flat=True))) for s in do_sync_pack_suites(lua)}
    assert again == before


def test_imported_benchmark_is_registered_for_decontamination(lua, humaneval_suite):
    tasks = Task.objects.filter(language=lua, source="multipl-e:humaneval-lua")
    assert humaneval_suite.problems.count() == 161 == tasks.count()
    assert set(tasks.values_list("split", flat=True)) == {"test"}
    assert humaneval_suite.restriction == Suite.Restriction.LICENCE and "not for training" in humaneval_suite.licence
    do_import_multiple(lua, HUMANEVAL_LUA)
    assert tasks.count() == 161


def test_triage_rejects_training_data_copied_from_the_benchmark(lua, humaneval_suite):
    from curation.packs import read_pack
    from synthesis.chunks import ChunkTriage
    from synthesis.triage import Item

    problem = humaneval_suite.problems.get(key="humaneval-lua/HumanEval_0_has_close_elements")
    triage = ChunkTriage.for_language(lua, read_pack(lua.pack_path), {})
    copied = Item(id="0", prompt="Write a function.", code=problem.prompt + "  return false\nend\n")
    decisions = triage.triage.triage([copied], triage.rules, pack=triage.pack, heldout=triage.contamination,
                                     near_index=triage.near)
    assert decisions[0].action == "reject" and "HumanEval_0" in (decisions[0].matched or "")


def test_run_refuses_a_checkpoint_of_another_language(tiny_checkpoint, tiny_model_dir, pack_suites, tmp_path):
    other = Language.objects.create(slug="tcl", name="Tcl", extension=".tcl", grammar="tcl", pack_path=str(tmp_path))
    with pytest.raises(EvaluationRefused, match="Tcl"):
        do_start_run(make_checkpoint(other, tiny_model_dir, name="tcl-model", path=str(tmp_path / "m")),
                     pack_suites["lua-test"], send=False)


def test_run_refuses_many_greedy_samples(tiny_checkpoint, pack_suites):
    with pytest.raises(EvaluationRefused, match="greedy"):
        do_start_run(tiny_checkpoint, pack_suites["lua-test"], n=5, temperature=0, send=False)


def test_run_stores_every_sample_with_metrics_and_settings(tiny_checkpoint, humaneval_suite):
    run = run_now(tiny_checkpoint, humaneval_suite, n=2, temperature=0.8, max_new_tokens=12, limit=2)
    assert run.status == "finished" and run.valid
    assert run.samples.count() == 4 == run.sample_count and run.problem_count == 2
    assert set(run.samples.values_list("sample", flat=True)) == {0, 1}
    metrics = run.metrics["metrics"]
    assert {"Compile@1", "Pass@1"} <= set(metrics)
    assert 0 <= metrics["Pass@1"]["low"] <= metrics["Pass@1"]["value"] <= metrics["Pass@1"]["high"] <= 1
    assert run.headline == metrics["Pass@1"]["value"]
    settings = run.settings
    assert settings["n"] == 2 and settings["temperature"] == 0.8 and settings["variant"] == "completion"
    assert settings["toolchain"]["runner"].startswith("Lua 5.4")
    assert ["\nlocal", "\nfunction", "\n--", "\n\n"] in settings["stop_tokens"]
    assert run.self_test["ok"] and run.metrics["cost"]["mean_tokens"] > 0
    assert run.clusters["error_types"] or run.headline == 1.0


def test_stored_pass_at_k_matches_the_estimator_on_the_runs_own_samples(tiny_checkpoint, pack_suites):
    run = run_now(tiny_checkpoint, pack_suites["lua-test-completion"], n=5, temperature=1.0, max_new_tokens=8, limit=3)
    counts = {}
    for key, passed in run.samples.values_list("problem__key", "passed"):
        n, c = counts.get(key, (0, 0))
        counts[key] = (n + 1, c + passed)
    expected = sum(pass_at_k(n, c, 5) for n, c in counts.values()) / len(counts)
    assert run.settings["ks"] == [1, 5]
    assert run.metrics["metrics"]["Pass@5"]["value"] == pytest.approx(expected)


def test_missing_test_library_makes_the_run_invalid_before_generation(tiny_checkpoint, humaneval_suite):
    run = run_now(tiny_checkpoint, humaneval_suite, n=1, max_new_tokens=8, limit=3, test_libraries={})
    assert run.status == "invalid" and run.valid is False
    assert "test library" in run.invalid_reason
    assert run.samples.count() == 0 and run.metrics == {} and run.headline is None


def test_a_harness_that_accepts_anything_is_caught_by_the_self_test(lua, lua_pack_copy, tiny_checkpoint, pack_suites):
    """Break the pack's test compiler so its assertion checks nothing: every known-wrong
    solution would pass, and the self-test must refuse the run."""
    toml = lua_pack_copy / "language.toml"
    text = toml.read_text()
    assert 'assertion = "__scriptorium_check({index}, {call}, {expected})"' in text
    toml.write_text(text.replace('assertion = "__scriptorium_check({index}, {call}, {expected})"',
                                 'assertion = "local _ = {index}"'))
    Language.objects.filter(pk=lua.pk).update(pack_path=str(lua_pack_copy))
    run = run_now(tiny_checkpoint, pack_suites["lua-test"], n=1, max_new_tokens=8, limit=4)
    assert run.status == "invalid"
    assert "known_wrong_fails" in run.invalid_reason
    assert {f["check"] for f in run.self_test["failures"]} == {"known_wrong_fails"}


def test_uplift_starts_a_plain_and_an_assistant_run_with_the_same_settings(tiny_checkpoint, pack_suites):
    plain, assisted = do_start_uplift(tiny_checkpoint, pack_suites["lua-test"], n=2, max_new_tokens=8, limit=2,
                                      repair_rounds=1, send=False)
    assert plain.mode == "plain" and assisted.mode == "assistant" and assisted.baseline == plain
    shared = ("n", "temperature", "max_new_tokens", "limit", "seed")
    assert {k: plain.settings[k] for k in shared} == {k: assisted.settings[k] for k in shared}
    assert assisted.settings["assistant"] == {"retrieval": True, "repair_rounds": 1, "few_shot": 2}


def test_auto_runs_start_once_per_automatic_suite(tiny_checkpoint, pack_suites):
    expected = set(Suite.objects.filter(auto=True).values_list("name", flat=True))
    first = do_start_auto_runs(tiny_checkpoint)
    assert {r.suite.name for r in first} == expected and all(r.trigger == "auto" for r in first)
    assert do_start_auto_runs(tiny_checkpoint) == []
    assert EvalRun.objects.filter(checkpoint=tiny_checkpoint).count() == len(expected)


def test_model_output_with_nul_bytes_is_stored_without_them(tiny_checkpoint, pack_suites):
    """An untrained model can emit a NUL byte; Postgres text and jsonb refuse it."""
    from evaluation.actions import do_record_results
    from evaluation.harness import Judgement, SelfTestReport
    from evaluation.runner import load_problems

    run = do_start_run(tiny_checkpoint, pack_suites["lua-test"], n=1, limit=1, send=False, mode="assistant")
    problems, rows = load_problems(run)
    judgement = Judgement(problem_id=problems[0].id, sample=0, completion="x\x00y", verdict="syntax_error",
                          passed=False, compiles=False, error_message="near '\x00'")
    trace = [{"number": 0, "prompt": "p", "completion": "x\x00y", "verdict": "syntax_error"}]
    do_record_results(run, judgements=[judgement], traces={(problems[0].id, 0): trace}, problems=rows,
                      report=SelfTestReport(1, 2, 0.1), metrics={}, clusters={"error_types": [{"examples": ["\x00"]}]},
                      generation_seconds=0.0, seconds=0.0)
    sample = EvalRun.objects.get(pk=run.pk).samples.get()
    assert sample.completion == "x\ufffdy" and sample.trace[0]["completion"] == "x\ufffdy"
