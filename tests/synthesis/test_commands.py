"""manage.py synthesize and synthesis_report: run generators from the shell, read the rates."""
from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from curation.models import DocQAItem, Job, PreferencePair, Sample
from synthesis import registry

pytestmark = pytest.mark.django_db


@pytest.fixture
def numbers(monkeypatch):
    monkeypatch.setitem(registry.GENERATORS, "test.numbers", "tests.synthesis.failing_generators:prints_numbers")


def _run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_synthesize_runs_the_job_and_prints_its_counters(lua, numbers):
    out, _ = _run("synthesize", "lua", "--generator", "test.numbers", "--count", "6", "--seed", "2")
    job = Job.objects.get(kind=Job.Kind.SYNTHESIS)
    assert job.status == Job.Status.SUCCEEDED
    assert f"test.numbers: job {job.pk} succeeded;" in out
    assert "generated 6" in out and "stored 6" in out and "runs ok 100%" in out
    assert Sample.objects.filter(job=job).count() == 6


@pytest.mark.django_db(transaction=True)  # the job runs in another thread, on its own connection
def test_synthesize_with_a_progress_bar_runs_the_job_in_a_thread(lua, numbers, monkeypatch):
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    out, _ = _run("synthesize", "lua", "--generator", "test.numbers", "--count", "3")
    assert "succeeded" in out and "stored 3" in out


def test_synthesize_reports_a_failed_job(lua, monkeypatch):
    monkeypatch.setitem(registry.GENERATORS, "test.raises", "tests.synthesis.failing_generators:raises_after_some")
    out, err = _run("synthesize", "lua", "--generator", "test.raises", "--count", "50", "--params", '{"good": 2}')
    assert "test.raises: job" in out and "failed" in out
    assert "the generator broke on purpose" in err


def test_synthesize_refuses_bad_input(lua):
    with pytest.raises(CommandError, match="no language"):
        _run("synthesize", "cobol", "--generator", "syntax.mutate")
    with pytest.raises(CommandError, match="not valid JSON"):
        _run("synthesize", "lua", "--generator", "syntax.mutate", "--params", "{nope")
    with pytest.raises(CommandError, match="unknown generator"):
        _run("synthesize", "lua", "--generator", "syntax.nothing")
    with pytest.raises(CommandError, match="unknown limit"):
        _run("synthesize", "lua", "--generator", "syntax.mutate", "--limits", '{"wall": 1}')
    assert not Job.objects.exists()


def test_synthesize_only_queues_with_queue(lua, numbers):
    out, _ = _run("synthesize", "lua", "--generator", "test.numbers", "--count", "3", "--queue")
    job = Job.objects.get(kind=Job.Kind.SYNTHESIS)
    assert out.strip() == f"queued job {job.pk} (test.numbers)"


# Every generator that needs no model (the model-driven ones are in test_tasks.py and
# test_model_backends_in_jobs.py), each with a count that keeps the run short.
REPORTED = {"syntax.recombine": 25, "syntax.mutate": 25, "syntax.grammar": 25, "negatives.mutate": 25,
            "semantic.properties": 4, "augment.rename": 25, "augment.reformat": 25, "augment.reorder": 12,
            "augment.for_while": 12, "dpo.mutants": 8, "docqa.sections": 12}


def _synthesize_all():
    for name, count in REPORTED.items():
        _run("synthesize", "lua", "--generator", name, "--count", str(count), "--seed", "4")


def _stored() -> int:
    return Sample.objects.count() + PreferencePair.objects.count() + DocQAItem.objects.count()


@pytest.fixture
def report(lua):
    _synthesize_all()
    out, _ = _run("synthesis_report", "lua", "--json")
    return {row["generator"]: row for row in json.loads(out)}


def test_report_gives_rates_per_generator_as_json_and_as_a_table(report):
    assert set(report) == set(REPORTED)
    assert all(row["jobs"] == 1 and row["generated"] > 0 and row["stored"] > 0 for row in report.values())
    # The targets, loosely: what is stored parses, negatives fail as intended,
    # augmentations keep their output; the runner's share is reported for each.
    for name in ("syntax.recombine", "syntax.mutate", "syntax.grammar"):
        assert report[name]["parse_share"] >= 0.9, name
    assert report["syntax.mutate"]["runner_share"] >= 0.6
    assert report["negatives.mutate"]["negatives_intended_share"] >= 0.9
    for name in ("augment.rename", "augment.reformat", "augment.reorder", "augment.for_while"):
        assert report[name]["augment_survival"] >= 0.8, name
    assert report["semantic.properties"]["runner_share"] >= 0.8
    assert report["docqa.sections"]["runner_share"] >= 0.8
    assert report["dpo.mutants"]["validated"] > 0 and report["dpo.mutants"]["runner_share"] < 1
    for row in report.values():
        assert row["runner_share"] is not None or row["negatives"] == row["generated"], row
        assert row["validated"] >= row["stored"] - row["auto_rejected"]
        assert row["negatives_intended_share"] is None or row["negatives"] > 0
    out, _ = _run("synthesis_report", "lua")
    lines = out.splitlines()
    assert all(heading in lines[1] for heading in ("parses", "runs ok", "neg. intended", "aug. survive", "dups"))
    assert all(any(line.startswith(name) for line in lines) for name in REPORTED)


def test_second_run_with_the_same_seed_adds_no_duplicates(report):
    before = _stored()
    _synthesize_all()
    assert _stored() == before
    out, _ = _run("synthesis_report", "lua", "--json")
    again = {row["generator"]: row for row in json.loads(out)}
    for name in REPORTED:
        assert again[name]["jobs"] == 2 and again[name]["stored"] == report[name]["stored"], name
        assert again[name]["duplicates"] >= report[name]["duplicates"] + report[name]["stored"], name


def test_report_of_a_language_without_jobs_says_so(lua):
    out, _ = _run("synthesis_report", "lua")
    assert "No synthesis jobs" in out
    with pytest.raises(CommandError):
        _run("synthesis_report", "cobol")


# ---------------------------------------------------------------- --checkpoint and --triage

@pytest.fixture
def checkpoints(lua):
    from curation.models import Language
    from training.models import Checkpoint

    other = Language.objects.create(slug="tcl", name="Tcl", extension=".tcl", grammar="tcl", pack_path="/nowhere")
    return (Checkpoint.objects.create(language=lua, name="lua-sft", method="sft", base_model="/m", path="/m/lua"),
            Checkpoint.objects.create(language=other, name="tcl-sft", method="sft", base_model="/m", path="/m/tcl"))


def test_synthesize_stores_the_checkpoint_and_triage_rules_on_the_job(lua, checkpoints):
    mine, _ = checkpoints
    _run("synthesize", "lua", "--generator", "transpile.python", "--count", "3", "--queue",
         "--checkpoint", str(mine.pk), "--triage", '{"length": {"max_lines": 50, "action": "review"}}')
    job = Job.objects.get(kind=Job.Kind.SYNTHESIS)
    assert job.params["backend"] == {"kind": "checkpoint", "id": mine.pk}
    assert job.params["triage"] == {"length": {"max_lines": 50, "action": "review"}}


def test_synthesize_refuses_another_languages_checkpoint(lua, checkpoints):
    _, theirs = checkpoints
    with pytest.raises(CommandError, match=f"checkpoint #{theirs.pk} is not one of Lua's"):
        _run("synthesize", "lua", "--generator", "transpile.python", "--checkpoint", str(theirs.pk), "--queue")
    with pytest.raises(CommandError, match="no checkpoint #999999"):
        _run("synthesize", "lua", "--generator", "transpile.python", "--checkpoint", "999999", "--queue")
    with pytest.raises(CommandError, match="not both"):
        _run("synthesize", "lua", "--generator", "transpile.python", "--checkpoint", str(theirs.pk),
             "--backend", '{"kind": "none"}')
    assert not Job.objects.exists()


def test_synthesize_refuses_bad_triage_rules_and_backend_kinds_before_queueing(lua):
    with pytest.raises(CommandError, match="unknown triage check 'near_dupes'"):
        _run("synthesize", "lua", "--generator", "all", "--triage", '{"near_dupes": {}}', "--queue")
    with pytest.raises(CommandError, match=r"unknown setting\(s\) for length: max_line"):
        _run("synthesize", "lua", "--generator", "syntax.mutate", "--triage", '{"length": {"max_line": 5}}')
    with pytest.raises(CommandError, match="--triage is not valid JSON"):
        _run("synthesize", "lua", "--generator", "syntax.mutate", "--triage", "{nope")
    with pytest.raises(CommandError, match="unknown backend kind 'carrier-pigeon'"):
        _run("synthesize", "lua", "--generator", "all", "--backend", '{"kind": "carrier-pigeon"}', "--queue")
    assert not Job.objects.exists()


def test_synthesize_still_takes_a_local_model_folder(lua):
    _run("synthesize", "lua", "--generator", "transpile.python", "--queue",
         "--backend", '{"kind": "local", "path": "/models/coder"}')
    assert Job.objects.get().params["backend"] == {"kind": "local", "path": "/models/coder"}
