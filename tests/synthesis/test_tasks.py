"""A synthesis job end to end: generate, run in the sandbox, triage, store — in chunks."""
from __future__ import annotations

import pytest

from curation.models import DocQAItem, Execution, Job, PreferencePair, Sample
from synthesis import registry
from synthesis.actions import do_start_synthesis

pytestmark = pytest.mark.django_db


@pytest.fixture
def test_generators(monkeypatch):
    monkeypatch.setitem(registry.GENERATORS, "test.raises", "tests.synthesis.failing_generators:raises_after_some")
    monkeypatch.setitem(registry.GENERATORS, "test.numbers", "tests.synthesis.failing_generators:prints_numbers")


@pytest.fixture
def run_synthesis(django_capture_on_commit_callbacks):
    """Start a job as the UI does; the embedded default runs it in-process on commit."""

    def run(lua, generator, **kwargs) -> Job:
        with django_capture_on_commit_callbacks(execute=True):
            job = do_start_synthesis(lua, generator, **kwargs)
        job.refresh_from_db()
        return job

    return run


def test_job_stores_samples_with_executions_and_provenance(lua, test_generators, run_synthesis):
    job = run_synthesis(lua, "test.numbers", count=10, seed=3, chunk_size=4)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.counters["generated"] == 10 and job.counters["stored"] == 10 and job.counters["chunks_done"] == 3
    sample = Sample.objects.get(language=lua, code="local x = 2\nprint(x * 5)")
    assert (sample.generator, sample.seed, sample.job_id, sample.verdict) == ("test.numbers", 3, job.pk, "ok")
    assert sample.licence == "CC-BY-4.0"
    assert sample.executions.get().stdout == "10\n"


def test_second_run_with_the_same_seed_adds_no_duplicates(lua, test_generators, run_synthesis):
    run_synthesis(lua, "test.numbers", count=10, seed=1)
    before = (Sample.objects.count(), Execution.objects.count())
    again = run_synthesis(lua, "test.numbers", count=10, seed=1)
    assert again.counters["stored"] == 0 and again.counters["duplicates"] == 10
    assert (Sample.objects.count(), Execution.objects.count()) == before


def test_generator_that_raises_fails_the_job_and_leaves_whole_chunks_only(lua, test_generators, run_synthesis):
    job = run_synthesis(lua, "test.raises", count=100, seed=1, params={"good": 6}, chunk_size=4)
    assert job.status == Job.Status.FAILED
    assert "the generator broke on purpose" in job.error
    # The first chunk of 4 was stored with its counters; the unfinished second chunk was not.
    assert Sample.objects.filter(job=job).count() == 4
    assert job.counters["chunks_done"] == 1


def test_redelivered_job_skips_the_chunks_it_already_stored(lua, test_generators, run_synthesis):
    from curation.jobs import run_job
    from synthesis.tasks import synthesize

    job = run_synthesis(lua, "test.numbers", count=8, seed=5, chunk_size=4)
    stored = Sample.objects.filter(job=job).count()
    # What a redelivery after a worker died looks like: the row says running, counters kept.
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING)
    run_job(job.pk, synthesize)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.counters["chunks_done"] == 2 and job.counters["stored"] == stored
    assert Sample.objects.filter(job=job).count() == stored


def test_dpo_generator_stores_pairs_with_both_executions(lua, run_synthesis):
    job = run_synthesis(lua, "dpo.mutants", count=6, seed=0)
    assert job.status == Job.Status.SUCCEEDED, job.error
    pair = PreferencePair.objects.filter(language=lua).select_related("chosen_execution", "rejected_execution").first()
    assert pair is not None
    assert pair.chosen_execution.verdict == "ok"
    assert pair.rejected_execution.verdict != "ok"


def test_docqa_generator_stores_items_citing_anchors(lua, run_synthesis):
    job = run_synthesis(lua, "docqa.sections", count=12, seed=0)
    assert job.status == Job.Status.SUCCEEDED, job.error
    item = DocQAItem.objects.filter(language=lua).first()
    assert item is not None and item.cited_anchors
    assert all(a in item.answer for a in item.cited_anchors)


@pytest.fixture
def scripted_generators(monkeypatch):
    monkeypatch.setitem(registry.GENERATORS, "test.contaminated",
                        "tests.synthesis.scripted_generators:contaminated_and_duplicated")
    monkeypatch.setitem(registry.GENERATORS, "test.loops", "tests.synthesis.scripted_generators:loops_forever")


def test_contaminated_item_is_stored_auto_rejected_with_its_reason(lua, scripted_generators, run_synthesis):
    job = run_synthesis(lua, "test.contaminated", count=10, seed=0)
    assert job.status == Job.Status.SUCCEEDED, job.error
    [rejected] = Sample.objects.filter(job=job, status="auto_rejected")
    assert rejected.triage_reason.startswith("decontamination:") and "task:test/" in rejected.triage_reason
    assert job.counters["auto_rejected"] == 1 and job.counters["auto_rejected_decontamination"] == 1


def test_duplicate_in_a_job_is_counted_and_not_stored(lua, scripted_generators, run_synthesis):
    job = run_synthesis(lua, "test.contaminated", count=10, seed=0)
    assert job.counters["generated"] == 4 and job.counters["passed"] == 4
    assert job.counters["duplicates"] == 1 and job.counters["stored"] == 3
    assert Sample.objects.filter(job=job, prompt="Sort three numbers.").count() == 1


def test_augmentations_of_one_program_are_not_dropped_as_near_duplicates(lua, run_synthesis):
    job = run_synthesis(lua, "augment.rename", count=100, seed=1)
    parents = list(Sample.objects.filter(job=job).values_list("metadata__parent_ref", flat=True))
    assert job.counters["stored"] == len(parents) > len(set(parents))  # several variants of one example kept


def test_job_limits_stop_runaway_programs_quickly(lua, scripted_generators, run_synthesis):
    import time

    started = time.monotonic()
    job = run_synthesis(lua, "test.loops", count=4, seed=0, limits={"wall_seconds": 0.4, "cpu_seconds": 0.2})
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.counters["executed"] == 4 and job.counters["passed"] == 0
    assert time.monotonic() - started < 4  # the pack allows 5 s each; the job asked for 0.4 s
    assert job.params["limits"] == {"wall_seconds": 0.4, "cpu_seconds": 0.2}


def test_limits_that_are_not_limits_are_refused(lua):
    with pytest.raises(ValueError, match="unknown limit"):
        do_start_synthesis(lua, "syntax.mutate", count=5, limits={"wall": 1}, send=False)
    with pytest.raises(ValueError, match="positive"):
        do_start_synthesis(lua, "syntax.mutate", count=5, limits={"wall_seconds": 0}, send=False)


def test_generators_get_tighter_sandbox_limits_than_the_pack():
    from synthesis.registry import limits_for

    assert limits_for("syntax.mutate") == {"wall_seconds": 2.0, "cpu_seconds": 1.0}
    assert limits_for("dpo.mutants")["wall_seconds"] == 1.0
    assert limits_for("dpo.mutants", {"wall_seconds": 3})["wall_seconds"] == 3  # the sandbox caps it at the pack's


def test_a_generator_asked_for_more_than_its_default_count_makes_more(lua, run_synthesis):
    job = run_synthesis(lua, "syntax.grammar", count=80, seed=2, chunk_size=40)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.counters["generated"] == 80  # not the generator's own default of 50
    assert job.counters["chunks_done"] == 2


NEEDS_MODEL = {"transpile.python", "self_instruct.docs", "backtranslate.roundtrip"}
SMALL = {"semantic.properties": 4, "docqa.sections": 12, "dpo.mutants": 8, "transpile.python": 8,
         "self_instruct.docs": 2, "backtranslate.roundtrip": 6}


@pytest.mark.parametrize("name", sorted(registry.GENERATORS))
def test_every_generator_stores_items_with_executions_and_provenance(lua, run_synthesis, name, settings):
    settings.ENDPOINT_ALLOWED_HOSTS = ["127.0.0.1"]  # the model-driven ones talk to a local fake endpoint
    from tests.synthesis.fake_endpoint import FakeEndpoint, ScriptedModel

    params = {"seeds": ["digit_sum", "is_palindrome"], "k": 2} if name == "transpile.python" else {}
    if name == "backtranslate.roundtrip":
        params = {"limit": 3, "k": 1}
    with FakeEndpoint(ScriptedModel()) as endpoint:
        job = run_synthesis(lua, name, count=SMALL.get(name, 16), seed=1, params=params,
                            backend=endpoint.backend() if name in NEEDS_MODEL else None)
    assert job.status == Job.Status.SUCCEEDED, job.error
    samples = Sample.objects.filter(job=job)
    pairs = PreferencePair.objects.filter(job=job)
    docqa = DocQAItem.objects.filter(job=job)
    assert samples.count() + pairs.count() + docqa.count() == job.counters["stored"] > 0
    for item in [*samples[:3], *pairs[:3], *docqa[:3]]:
        assert (item.generator, item.seed, item.licence) == (name, 1, "CC-BY-4.0")
    if name in NEEDS_MODEL:
        assert all(s.model == "scripted" for s in samples)
    for sample in samples:
        execution = sample.executions.get()
        assert execution.verdict == sample.verdict == "ok" and execution.job_id == job.pk
    for pair in pairs.select_related("chosen_execution", "rejected_execution"):
        assert pair.chosen_execution.verdict == "ok" != pair.rejected_execution.verdict
    for item in docqa.select_related("example_execution"):
        assert item.example_code.strip() and item.example_execution.verdict == "ok"


# ---------------------------------------------------------------- the overlapped stages

def _stream(chunk_size=3, batch_size=2, **kwargs):
    from synthesis.pipeline import ChunkReport
    from synthesis.streaming import ChunkStream

    stored = []

    def validate(batch):
        return ChunkReport(list(batch), {"generated": len(batch)})

    def store(index, report, counts, made):
        stored.append((index, list(report.items), made))

    return ChunkStream(validate, lambda items: (items, {"duplicates": 0}), store, chunk_size=chunk_size,
                       batch_size=batch_size, **kwargs), stored


def test_stream_stores_chunks_in_order_with_their_counts():
    stream, stored = _stream()
    assert stream.run(iter(range(8))) == 8
    assert stored == [(0, [0, 1, 2], 3), (1, [3, 4, 5], 6), (2, [6, 7], 8)]


def test_stream_keeps_finished_chunks_when_the_generator_breaks():
    def broken():
        yield from range(7)
        raise RuntimeError("the generator broke")

    stream, stored = _stream()
    with pytest.raises(RuntimeError, match="broke"):
        stream.run(broken())
    assert [index for index, _, _ in stored] == [0, 1]  # chunk 2 (item 6) was never finished


def test_stream_stores_nothing_after_a_chunk_fails_to_store():
    from synthesis.pipeline import ChunkReport
    from synthesis.streaming import ChunkStream

    stored = []

    def store(index, report, counts, made):
        if index == 1:
            raise OSError("the database went away")
        stored.append(index)

    stream = ChunkStream(lambda batch: ChunkReport(list(batch), {}), lambda items: (items, {}), store,
                         chunk_size=2, batch_size=1)
    with pytest.raises(OSError):
        stream.run(iter(range(10)))
    assert stored == [0]


def test_stream_writes_each_batch_before_its_chunk_is_stored():
    from synthesis.pipeline import ChunkReport
    from synthesis.streaming import ChunkStream

    events = []
    stream = ChunkStream(lambda batch: ChunkReport(list(batch), {}), lambda items: (items, {}),
                         lambda index, report, counts, made: events.append(("store", index, list(report.items))),
                         write=lambda index, report, counts: events.append(("write", index, list(report.items))),
                         chunk_size=3, batch_size=2)
    stream.run(iter(range(5)))
    # ramp-up batches of 2 (chunk_size caps them), each written as soon as it is triaged
    assert events == [("write", 0, [0, 1]), ("write", 0, [2]), ("store", 0, [0, 1, 2]),
                      ("write", 1, [3, 4]), ("store", 1, [3, 4])]


def test_stream_skips_chunks_an_earlier_attempt_stored():
    stream, stored = _stream(skip=2)
    stream.run(iter(range(8)))
    assert [index for index, _, _ in stored] == [2]


def test_a_job_reads_a_changed_pack_again(lua_pack_copy):
    from synthesis.tasks import pack_content

    first = pack_content(lua_pack_copy)
    assert pack_content(lua_pack_copy) is first  # unchanged: read once per worker
    example = lua_pack_copy / "examples" / "closures.lua"
    example.write_text(example.read_text() + "\nprint('edited')\n")
    edited = pack_content(lua_pack_copy)
    assert "print('edited')" in next(e.code for e in edited.examples if e.name == "closures.lua")


def test_stream_batches_grow_at_the_start_of_a_job_and_shrink_at_its_end():
    from synthesis.pipeline import ChunkReport
    from synthesis.streaming import ChunkStream

    batches = []

    def validate(batch):
        batches.append(len(batch))
        return ChunkReport(list(batch), {})

    stream = ChunkStream(validate, lambda items: (items, {}), lambda *args: None, chunk_size=200, batch_size=25,
                         total=200, workers=1)
    assert stream.run(iter(range(200))) == 200
    assert batches == [4, 8, 16, 25, 25, 25, 25, 25, 23, 12, 6, 4, 2]
