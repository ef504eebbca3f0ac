"""Self-training: the pure core (selection, pairing, reweighting, stopping), storing a round,
and two real rounds on the Lua pack with the tiny base."""
from __future__ import annotations

import math

import pytest

from training.self_training import (MAX_ROUNDS, PLATEAU, TARGET, Candidate, Problem, StopRule, code_of, description_of,
                                    pairs, perplexity_threshold, reverse_rows, reweight, round_stats, sample_round,
                                    select, should_stop, source_pass_rates)


def _candidates(problem: str, codes: list[str]) -> list[Candidate]:
    return [Candidate(problem, i, f"```lua\n{code}\n```", code + "\n") for i, code in enumerate(codes)]


# ---------------------------------------------------------------- the pure core

def test_code_is_cut_out_of_the_fenced_answer():
    assert code_of("Here:\n```lua\nprint(1)\n```\nDone.", ("lua",)) == "print(1)\n"
    assert code_of("```python\nx=1\n```\n```lua\nprint(2)\n```", ("lua",)) == "print(2)\n"
    assert code_of("```lua\nlocal x = 1\nprint(x", ("lua",)) == "local x = 1\nprint(x\n"  # ran out of tokens
    assert code_of("print(3)", ("lua",)) == "print(3)\n"
    assert code_of("  \n", ("lua",)) == ""


class _Backend:
    def __init__(self):
        self.calls = []

    def generate(self, prompts, *, n, temperature, max_new_tokens, seed=None, stop=None):
        from training.backends import Completion

        self.calls.append((tuple(prompts), n, temperature, max_new_tokens, seed))
        return [[Completion(f"```lua\nreturn {i}{j}\n```", 5, 0.0) for j in range(n)] for i in range(len(prompts))]


def test_sample_round_asks_k_per_prompt_and_strips_fences():
    backend = _Backend()
    candidates = sample_round(backend, [Problem("a", "Write a."), Problem("b", "Write b.")], k=3, temperature=0.7,
                              max_new_tokens=64, seed=5, tags=("lua",))
    assert backend.calls == [(("Write a.", "Write b."), 3, 0.7, 64, 5)]
    assert [(c.problem, c.index, c.code) for c in candidates][:4] == [
        ("a", 0, "return 00\n"), ("a", 1, "return 01\n"), ("a", 2, "return 02\n"), ("b", 0, "return 10\n")]


def test_round_stats_estimate_pass_at_1_and_pass_at_k():
    candidates = _candidates("a", ["x", "y", "z", "w"]) + _candidates("b", ["p", "q", "r", "s"])
    stats = round_stats(candidates, [True, True, False, False] + [False] * 4)
    assert (stats.problems, stats.samples, stats.passed) == (2, 8, 2)
    assert stats.pass_rate == 0.25 and stats.pass_at_1 == 0.25 and stats.pass_at_k == 0.5
    assert stats.per_problem == {"a": 0.5, "b": 0.0}


def test_select_keeps_passing_programs_once():
    candidates = _candidates("a", ["x", "x", "y", "z"])
    assert select(candidates, ["ok", "ok", "test_failed", "ok"]).kept == [0, 3]


def test_select_drops_high_perplexity_but_keeps_a_share_for_diversity():
    candidates = _candidates("a", [f"code{i}" for i in range(12)])
    perplexities = [2.0, 3.0] + [50.0 + i for i in range(10)]
    chosen = select(candidates, ["ok"] * 12, perplexities=perplexities, max_perplexity=10.0, keep_high_share=0.2,
                    seed=1)
    assert {0, 1} <= set(chosen.kept)
    assert len(chosen.kept_high) == 2 and set(chosen.kept_high) <= set(range(2, 12))
    assert len(chosen.filtered) == 8 and set(chosen.kept) == {0, 1, *chosen.kept_high}
    again = select(candidates, ["ok"] * 12, perplexities=perplexities, max_perplexity=10.0, keep_high_share=0.2, seed=1)
    assert again.kept == chosen.kept  # seeded: a redelivered round keeps the same ones


def test_a_positive_share_keeps_at_least_one_surprising_program():
    candidates = _candidates("a", ["low", "high"])
    chosen = select(candidates, ["ok", "ok"], perplexities=[1.0, 99.0], max_perplexity=5.0, keep_high_share=0.1)
    assert chosen.kept == [0, 1] and chosen.kept_high == [1]
    strict = select(candidates, ["ok", "ok"], perplexities=[1.0, math.nan], max_perplexity=5.0, keep_high_share=0.0)
    assert strict.kept == [0] and list(strict.filtered) == [1]


def test_perplexity_threshold_is_a_quantile_of_the_scores():
    assert perplexity_threshold([5.0, 1.0, 3.0, 2.0, 4.0], 0.8) == 4.0
    assert perplexity_threshold([5.0, 1.0], 1.0) == 5.0
    assert perplexity_threshold([math.nan], 0.5) is None


def test_pairs_prefer_a_wrong_answer_over_a_syntax_error_and_use_each_program_once():
    candidates = _candidates("a", ["good1", "broken", "wrong", "good1", "good2"]) + _candidates("b", ["only"])
    verdicts = ["ok", "syntax_error", "test_failed", "ok", "ok", "test_failed"]
    assert pairs(candidates, verdicts) == [(0, 2), (4, 1)]
    assert pairs(candidates, verdicts, max_per_problem=1) == [(0, 2)]


def test_flaky_programs_and_sandbox_errors_are_never_paired():
    candidates = _candidates("a", ["flaky", "flaky", "good", "infra"])
    assert pairs(candidates, ["ok", "timeout", "ok", "sandbox_error"]) == []


def test_reweight_moves_weight_towards_what_the_model_fails():
    mix = {"semantic": 3.0, "self_instruct": 1.0, "syntax": 1.0}
    out = reweight(mix, {"semantic": 0.2, "self_instruct": 0.8})
    # mean 0.5: semantic x (0.8+0.1)/(0.5+0.1) = 1.5, self_instruct x (0.2+0.1)/0.6 = 0.5
    assert out == {"semantic": 4.5, "self_instruct": 0.5, "syntax": 1.0}


def test_reweight_changes_nothing_when_every_source_does_equally_well():
    mix = {"semantic": 3.0, "transpile": 2.0}
    assert reweight(mix, {"semantic": 0.4, "transpile": 0.4}) == mix
    assert reweight(mix, {}) == mix


def test_reweight_is_bounded_per_round():
    out = reweight({"a": 1.0, "b": 1.0}, {"a": 0.0, "b": 1.0}, min_factor=0.5, max_factor=2.0)
    # raw factors 1.1/0.6 and 0.1/0.6 are clamped to 1.83 and 0.5
    assert out == {"a": round(1.1 / 0.6, 4), "b": 0.5}
    assert reweight({}, {"dpo": 0.5}) == {"dpo": 1.0}  # an unlisted source starts from 1.0


def test_source_pass_rates_weigh_problems_by_items():
    rates = source_pass_rates({"gcd": 1.0, "is_prime": 0.0},
                              {"semantic": {"gcd": 1, "is_prime": 3}, "dpo": {"gcd": 2}, "docqa": {"other": 4}})
    assert rates == {"semantic": 0.25, "dpo": 1.0}


def test_stop_at_max_rounds():
    rule = StopRule(max_rounds=2)
    assert should_stop([{"pass_rate": 0.1}], rule) is None
    assert should_stop([{"pass_rate": 0.1}, {"pass_rate": 0.5}], rule) == MAX_ROUNDS


def test_stop_at_target_pass_rate():
    rule = StopRule(max_rounds=10, target=0.6)
    assert should_stop([{"pass_rate": 0.3}], rule) is None
    assert should_stop([{"pass_rate": 0.3}, {"pass_rate": 0.65}], rule) == TARGET


def test_stop_on_a_plateau_after_patience():
    rule = StopRule(max_rounds=10, min_gain=0.02, patience=2)
    history = [{"pass_rate": r} for r in (0.1, 0.3, 0.31)]
    assert should_stop(history, rule) is None  # one flat round is not yet a plateau
    assert should_stop(history + [{"pass_rate": 0.305}], rule) == PLATEAU
    assert should_stop([{"pass_rate": 0.0}, {"pass_rate": 0.0}], StopRule(max_rounds=10)) is None  # off by default


def test_stop_rule_refuses_impossible_settings():
    with pytest.raises(ValueError):
        StopRule(max_rounds=0)
    with pytest.raises(ValueError):
        StopRule(max_rounds=2, target=1.5)


def test_reverse_rows_swap_prompt_and_program():
    rows = [{"messages": [{"role": "user", "content": "Write gcd."},
                          {"role": "assistant", "content": "```lua\nf\n```"}]}]
    assert reverse_rows(rows * 3) == [
        {"messages": [{"role": "user", "content": "```lua\nf\n```"}, {"role": "assistant", "content": "Write gcd."}]}]


def test_description_drops_code_the_reverse_model_wrote():
    answer = "Returns the gcd of a and b.\n```lua\nfunction gcd() end\n```\n"
    assert description_of(answer) == "Returns the gcd of a and b."
    assert description_of("  Counts words.  \n```lua\nlocal") == "Counts words."


def test_dedup_key_matches_the_synthesis_store():
    from sandbox.pack import load_pack
    from synthesis.store import item_hash as synthesis_hash
    from tests.conftest import LUA_PACK
    from training.actions import item_hash

    pack = load_pack(LUA_PACK)
    code = 'local s = "a  -- not a comment"   -- a comment\n\n  return  s\n'
    assert item_hash(pack.line_comment, " Write  f. ", code) == synthesis_hash(pack, "Write f.", code)
    assert item_hash(pack.line_comment, "p", "x", "y") == synthesis_hash(pack, "p", "x", "y")


# ---------------------------------------------------------------- storing a round (database, real sandbox)

FAST = {"max_steps": 4, "batch_size": 4, "max_length": 256, "logging_steps": 1, "save_steps": 50, "threads": 1}
# The pack's three shortest train references: a tiny model from random weights can learn
# them in ~130 steps (measured: loss 0.3 by step 110), so some candidates pass and some fail.
SHORT_TASKS = ["from_codepoints", "is_power_of_two", "utf8_length"]


@pytest.fixture
def data_dir(tmp_path_factory, settings):
    # The session's tiny base is shared with the other training tests' folder layout.
    folder = tmp_path_factory.getbasetemp() / "self-training"
    folder.mkdir(exist_ok=True)
    settings.DATA_DIR = folder
    settings.EVALUATION_AUTO = False  # evaluation tests its own hook
    return folder


def _run(lua, task, codes):
    from curation.execution import pack_for
    from sandbox import Program, run_many

    programs = [Program(code, tests=task.tests, entry_point=task.entry_point) for code in codes]
    results = [None] * len(programs)
    for i, result in run_many(pack_for(lua), programs):
        results[i] = result
    return results


def _outcome(lua, task, codes, **extra):
    from training.actions import RoundOutcome

    candidates = [Candidate(task.name, i, f"```lua\n{code}```", code) for i, code in enumerate(codes)]
    return RoundOutcome(round=extra.pop("round", 1), sampler=None, sampler_path="/models/x", model_name="x", seed=7,
                        candidates=candidates, results=_run(lua, task, codes), tasks={task.name: task}, **extra)


@pytest.mark.django_db
def test_a_round_stores_passing_programs_and_pass_fail_pairs(lua, data_dir):
    from curation.models import Execution, PreferencePair, ReviewStatus, Sample
    from training.actions import do_start_self_training, do_store_self_training_round

    job = do_start_self_training(lua, tasks=["gcd"], config=FAST, send=False)
    task = lua.tasks.get(name="gcd")
    record = do_store_self_training_round(job, _outcome(lua, task, [task.reference, task.wrong, task.wrong]))

    assert (record.samples, record.passed, record.stored, record.pairs) == (3, 1, 1, 1)
    assert record.pass_rate == pytest.approx(1 / 3) and record.pass_at_k == 1.0
    sample = Sample.objects.get(generator="self_train.round1")
    assert (sample.kind, sample.status, sample.task, sample.prompt) == ("self_instruct", ReviewStatus.ACCEPTED, task,
                                                                        task.prompt)
    assert sample.code == task.reference and sample.verdict == "ok" and sample.job == job
    assert Execution.objects.get(sample=sample).verdict == "ok"
    pair = PreferencePair.objects.get(generator="self_train.round1")
    assert (pair.chosen, pair.rejected, pair.task) == (task.reference, task.wrong, task)
    assert (pair.chosen_execution.verdict, pair.rejected_execution.verdict) == ("ok", "test_failed")


@pytest.mark.django_db
def test_storing_a_round_twice_changes_nothing(lua, data_dir):
    from curation.models import PreferencePair, Sample
    from training.actions import do_start_self_training, do_store_self_training_round

    job = do_start_self_training(lua, tasks=["gcd"], config=FAST, send=False)
    task = lua.tasks.get(name="gcd")
    first = do_store_self_training_round(job, _outcome(lua, task, [task.reference, task.wrong]))
    again = do_store_self_training_round(job, _outcome(lua, task, [task.reference, task.wrong]))
    assert again.pk == first.pk
    assert Sample.objects.filter(job=job).count() == 1 and PreferencePair.objects.filter(job=job).count() == 1
    # A later round finding the same program counts it as a duplicate instead of storing it.
    later = do_store_self_training_round(job, _outcome(lua, task, [task.reference + "\n-- same\n"], round=2))
    assert (later.passed, later.stored, later.duplicates) == (1, 0, 1)


@pytest.mark.django_db
def test_review_rule_sends_programs_to_review_and_perplexity_filter_auto_rejects(lua, data_dir):
    from curation.models import ReviewStatus, Sample
    from training.actions import do_start_self_training, do_store_self_training_round

    job = do_start_self_training(lua, tasks=["gcd"], accept_rule="review", config=FAST, send=False)
    task = lua.tasks.get(name="gcd")
    other = "function gcd(a, b)\n  a, b = math.abs(a), math.abs(b)\n  if b == 0 then return a end\n" \
            "  return gcd(b, a % b)\nend\n"
    record = do_store_self_training_round(job, _outcome(lua, task, [task.reference, other], perplexities=[3.0, 40.0],
                                                        max_perplexity=10.0, keep_high_share=0.0))
    assert (record.passed, record.stored, record.filtered) == (2, 1, 1)
    kept = Sample.objects.get(job=job, code=task.reference)
    dropped = Sample.objects.get(job=job, code=other)
    assert kept.status == ReviewStatus.PENDING and kept.quality == 3.0
    assert dropped.status == ReviewStatus.AUTO_REJECTED and "perplexity" in dropped.triage_reason


@pytest.mark.django_db
def test_backtranslations_wait_for_review_and_point_at_their_code(lua, data_dir):
    from curation.models import ReviewStatus, Sample
    from training.actions import do_start_self_training, do_store_backtranslations, unlabelled_code

    job = do_start_self_training(lua, tasks=["gcd"], config=FAST, send=False)
    bare = Sample.objects.create(language=lua, kind="syntax", code="print(1 + 2)", generator="t", content_hash="bare",
                                 status=ReviewStatus.ACCEPTED, verdict="ok")
    assert list(unlabelled_code(lua, limit=10)) == [bare]
    labels = [(bare.pk, "Print the sum of 1 and 2."), (bare.pk, "")]
    assert do_store_backtranslations(job, 1, labels, model_name="r") == 1
    assert do_store_backtranslations(job, 1, [(bare.pk, "Print the sum of 1 and 2.")], model_name="r") == 0
    label = Sample.objects.get(kind="backtranslate")
    assert (label.prompt, label.code, label.parent, label.status) == ("Print the sum of 1 and 2.", bare.code, bare,
                                                                      ReviewStatus.PENDING)
    assert list(unlabelled_code(lua, limit=10)) == []


@pytest.mark.django_db
def test_impossible_settings_are_refused_before_queueing(lua, data_dir):
    from curation.models import Job
    from training.actions import do_start_self_training
    from training.config import ConfigError

    with pytest.raises(ConfigError) as caught:
        do_start_self_training(lua, k=0, accept_rule="maybe", tasks=["int_sqrt"], config={"learning_rat": 1e-3},
                               perplexity={"quantil": 0.5})
    assert set(caught.value.errors) == {"k", "accept_rule", "tasks", "config.learning_rat", "perplexity"}
    assert not Job.objects.filter(kind=Job.Kind.SELF_TRAINING).exists()


@pytest.mark.django_db
def test_pm_sees_the_pass_rate_chart_and_only_an_admin_starts(login, pm, admin_user, lua, data_dir):
    from django.urls import reverse

    from curation.models import Job
    from training.actions import do_start_self_training, do_store_self_training_round

    job = do_start_self_training(lua, tasks=["gcd"], config=FAST, send=False)
    task = lua.tasks.get(name="gcd")
    do_store_self_training_round(job, _outcome(lua, task, [task.reference, task.wrong]))
    url = reverse("training-start-self-training", args=["lua"])
    page = login(pm).get(url).content.decode()
    assert 'id="pass-rate-chart"' in page and "self-training.js" in page and '"pass_at_1": 0.5' in page
    assert "<script>" not in page  # CSP: external scripts only
    fragment = login(pm).get(url, HTTP_HX_REQUEST="true").content.decode()
    assert fragment.startswith('<div id="self-training-rounds"') and "<h1>" not in fragment
    assert login(pm).post(url, {"rounds": "2"}).status_code == 403
    form = {"start": "tiny", "dataset": "self-train", "rounds": "2", "k": "4", "temperature": "0.8",
            "max_new_tokens": "128", "accept_rule": "auto", "train_from": "start", "perplexity_quantile": "0.9",
            "keep_high_share": "0.1", "max_steps": "5", "batch_size": "4", "learning_rate": "0.0002",
            "adapter": "lora", "seed": "0"}
    response = login(admin_user).post(url, form)
    started = Job.objects.filter(kind=Job.Kind.SELF_TRAINING).latest("created_at")
    assert response.status_code == 302 and response.url.endswith(f"?job={started.pk}")
    assert started.params["rounds"] == 2 and started.params["config"]["max_steps"] == 5


# ---------------------------------------------------------------- two real rounds

@pytest.mark.slow
@pytest.mark.django_db
def test_two_rounds_on_the_lua_pack_record_pass_rates(lua, data_dir, django_capture_on_commit_callbacks):
    """The tiny base is first taught the chosen train tasks' references (a few SFT steps),
    then self-trains for two rounds. A tiny model may pass nothing; what must hold is the
    machinery: two rounds recorded with their pass rates, what passed stored as samples and
    what passed against what failed as pairs, a dataset version and a checkpoint per round."""
    from curation.actions import do_freeze_dataset
    from curation.jobs import run_job
    from curation.models import Dataset, Job, PreferencePair, ReviewStatus, Sample
    from training.actions import do_start_self_training, do_start_training, item_hash
    from training.models import Checkpoint, SelfTrainingRound
    from training.tasks import run_self_training

    tasks = list(lua.tasks.filter(name__in=SHORT_TASKS, split="train"))
    Sample.objects.bulk_create([
        Sample(language=lua, kind="semantic", prompt=t.prompt, code=t.reference, task=t, generator="pack.reference",
               content_hash=item_hash("--", t.prompt, t.reference), status=ReviewStatus.ACCEPTED, verdict="ok")
        for t in tasks])
    # Accepted programs without a description, for the reverse model to label.
    Sample.objects.bulk_create([
        Sample(language=lua, kind="syntax", code=e.code, generator="pack.example", content_hash=f"example-{e.pk}",
               status=ReviewStatus.ACCEPTED, verdict="ok") for e in lua.examples.all()[:3]])
    references = do_freeze_dataset(lua, "references", dev_percent=0)
    with django_capture_on_commit_callbacks(execute=True):
        warmup = do_start_training(lua, method="sft", dataset=references, base="tiny", config={
            **FAST, "adapter": "full", "learning_rate": 8e-3, "max_steps": 110, "batch_size": 6, "logging_steps": 10})
    warmup.refresh_from_db()
    assert warmup.status == Job.Status.SUCCEEDED, warmup.error + warmup.log_tail
    start = Checkpoint.objects.get(job=warmup)

    job = do_start_self_training(
        lua, start=start.pk, dataset="self-train", rounds=2, k=6, temperature=1.0, max_new_tokens=96,
        tasks=SHORT_TASKS, config={**FAST, "learning_rate": 1e-3},
        perplexity={"on": True, "quantile": 0.8, "keep_high_share": 0.0},
        reverse=True, reverse_steps=3, dev_percent=0, send=False)
    run_job(job.pk, run_self_training)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error + job.log_tail

    rounds = list(SelfTrainingRound.objects.filter(job=job))
    assert [r.round for r in rounds] == [1, 2]
    assert [r["round"] for r in job.counters["rounds"]] == [1, 2]
    for r in rounds:
        assert r.problems == len(SHORT_TASKS) and r.samples == 6 * len(SHORT_TASKS)
        assert 0 <= r.pass_rate <= 1 and r.pass_rate == r.passed / r.samples
        assert r.finished and r.dataset.name == "self-train"
        stored = Sample.objects.filter(job=job, generator=f"self_train.round{r.round}").exclude(
            status=ReviewStatus.AUTO_REJECTED)
        assert stored.count() == r.stored <= r.passed
        assert PreferencePair.objects.filter(job=job, generator=f"self_train.round{r.round}").count() == r.pairs
        if r.passed:
            assert r.stored + r.duplicates + r.filtered >= 1
        failing_and_passing = [p for p, rate in r.per_problem.items() if 0 < rate < 1]
        if failing_and_passing:
            assert r.pairs >= 1
    assert [r["pass_rate"] for r in job.counters["rounds"]] == [round(r.pass_rate, 4) for r in rounds]
    versions = list(Dataset.objects.filter(language=lua, name="self-train").order_by("version"))
    assert [d.version for d in versions] == [1, 2] and [r.dataset for r in rounds] == versions
    assert versions[1].card["items"] >= versions[0].card["items"]  # the dataset grows (new pairs at least)
    checkpoints = Checkpoint.objects.filter(job=job).order_by("round")
    assert [(c.round, c.parent_id) for c in checkpoints] == [(1, start.pk), (2, start.pk)]
    assert rounds[1].sampler == checkpoints[0]
    assert rounds[0].checkpoint == checkpoints[0] and rounds[1].checkpoint == checkpoints[1]
    # The reverse model described the accepted programs that had no prompt, for review.
    assert rounds[0].reverse_checkpoint is not None and rounds[0].reverse_checkpoint.round == 1
    labels = Sample.objects.filter(job=job, kind="backtranslate")
    assert labels.count() == rounds[0].labelled + rounds[1].labelled
    assert all(s.status == ReviewStatus.PENDING and s.parent.prompt == "" for s in labels)

    # Redelivered (or retried) after it finished: recorded rounds are skipped, nothing is made twice.
    from curation.jobs import reset_for_retry

    def counts():
        return [m.objects.count() for m in (Sample, PreferencePair, Checkpoint, Dataset)]

    before = counts()
    reset_for_retry(job)
    run_job(job.pk, run_self_training)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error + job.log_tail
    assert SelfTrainingRound.objects.filter(job=job).count() == 2
    assert counts() == before


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_cancel_inside_a_round_keeps_it_and_a_retry_resumes_its_training(lua, data_dir):
    import threading
    import time

    from curation.jobs import reset_for_retry, run_job
    from curation.models import Job, ReviewStatus, Sample
    from training.actions import do_start_self_training
    from training.models import Checkpoint, SelfTrainingRound
    from training.tasks import run_self_training

    task = lua.tasks.get(name="utf8_length")
    Sample.objects.create(language=lua, kind="semantic", prompt=task.prompt, code=task.reference, task=task,
                          generator="pack.reference", content_hash="utf8-reference", status=ReviewStatus.ACCEPTED)
    job = do_start_self_training(lua, start="tiny", rounds=1, k=2, max_new_tokens=16, tasks=["utf8_length"],
                                 config={**FAST, "max_steps": 400, "save_steps": 400}, send=False)

    def cancel_once_training():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not Job.objects.filter(pk=job.pk, counters__step__gte=2).exists():
            if Job.objects.filter(pk=job.pk, status__in=Job.TERMINAL).exists():
                return
            time.sleep(0.2)
        Job.objects.filter(pk=job.pk).update(cancel_requested=True)

    watcher = threading.Thread(target=cancel_once_training)
    watcher.start()
    run_job(job.pk, run_self_training)
    watcher.join()
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED, job.error + job.log_tail
    record = SelfTrainingRound.objects.get(job=job)
    assert record.samples == 2 and record.checkpoint is None and not record.finished
    assert not Checkpoint.objects.filter(job=job).exists()
    samples = Sample.objects.filter(job=job).count()

    stopped_at = int(job.counters["step"])
    params = job.params
    params["config"]["max_steps"] = stopped_at + 2
    Job.objects.filter(pk=job.pk).update(params=params)
    reset_for_retry(job)
    run_job(job.pk, run_self_training)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error + job.log_tail
    assert "resuming training" in job.log_tail and "already sampled" in job.log_tail
    assert SelfTrainingRound.objects.filter(job=job).count() == 1 and Sample.objects.filter(job=job).count() == samples
    assert Checkpoint.objects.get(job=job, round=1).metrics["steps"] == stopped_at + 2
