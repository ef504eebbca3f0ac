"""Freezing accepted items into versioned datasets in the shapes TRL reads."""
from __future__ import annotations

import json

import pytest

from curation.actions import do_freeze_dataset
from curation.datasets import Item, freeze, repeats, split_of
from curation.models import DatasetItem, PreferencePair, ReviewStatus, Sample


def test_split_is_deterministic_per_item():
    assert split_of("abc", 50.0) == split_of("abc", 50.0)
    splits = {split_of(f"h{i}", 10.0) for i in range(200)}
    assert splits == {"train", "dev"}


def test_mix_weight_repeats_average_to_the_weight():
    total = sum(repeats(1.5, f"h{i}") for i in range(2000))
    assert 2800 < total < 3200


def test_rows_have_the_shapes_trl_reads():
    items = [Item("sample:1", "errfix", "h1", prompt="Fix it", code="print(1)", answer="A typo.",
                  tests=[{"args": [], "expected": None}], entry_point="f"),
             Item("pair:1", "dpo", "h2", prompt="Write f", code="good", rejected="bad"),
             Item("docqa:1", "docqa", "h3", prompt="What is #?", answer="Length (§3.1).", code="print(#'ab')")]
    frozen = freeze(items, language="lua", dev_percent=0)
    sft = frozen.rows["sft"]["train"]
    assert {m["role"] for row in sft for m in row["messages"]} == {"user", "assistant"}
    assert any("A typo." in row["messages"][1]["content"] and "```lua" in row["messages"][1]["content"] for row in sft)
    assert set(frozen.rows["dpo"]["train"][0]) == {"prompt", "chosen", "rejected"}
    assert all(set(row) == {"text"} for row in frozen.rows["cpt"]["train"])
    grpo = frozen.rows["grpo"]["train"][0]
    assert json.loads(grpo["tests"]) == [{"args": [], "expected": None}] and grpo["entry_point"] == "f"


def test_contaminated_items_are_left_out_and_reported():
    items = [Item("sample:1", "syntax", "h1", code="x"), Item("sample:2", "syntax", "h2", code="y")]
    frozen = freeze(items, language="lua", contaminated={"sample:2": "task:test/foo"})
    assert frozen.card["items"] == 1
    assert frozen.card["decontamination"]["examples"] == {"sample:2": "task:test/foo"}


def _accepted(lua, n=6):
    rows = [Sample(language=lua, kind="semantic", prompt=f"What does f({i}) print?", code=f"print({i} * 7)",
                   generator="test", content_hash=f"hash{i}", status=ReviewStatus.ACCEPTED, verdict="ok", licence="CC-BY-4.0")
            for i in range(n)]
    return Sample.objects.bulk_create(rows)


@pytest.mark.django_db
def test_freezing_twice_makes_two_immutable_versions(lua, tmp_path, settings):
    settings.DATA_DIR = tmp_path
    _accepted(lua)
    first = do_freeze_dataset(lua, "main", dev_percent=0)
    Sample.objects.filter(language=lua).update(status=ReviewStatus.REJECTED)
    Sample.objects.create(language=lua, kind="syntax", code="print('new')", generator="t", content_hash="new",
                          status=ReviewStatus.ACCEPTED)
    second = do_freeze_dataset(lua, "main", dev_percent=0)
    assert (first.version, second.version) == (1, 2)
    assert DatasetItem.objects.filter(dataset=first).count() == 6
    assert first.card["by_kind"] == {"semantic": 6}
    rows = (tmp_path / "datasets" / "lua" / "main-v1" / "sft" / "train.jsonl").read_text().splitlines()
    assert len(rows) == 6 * 3  # semantic items weigh 3.0
    assert (tmp_path / "datasets" / "lua" / "main-v1" / "cpt" / "train.parquet").is_file()


@pytest.mark.django_db
def test_datasets_load_with_the_datasets_library(lua, tmp_path, settings):
    from datasets import load_dataset

    settings.DATA_DIR = tmp_path
    _accepted(lua)
    PreferencePair.objects.create(language=lua, prompt="p", chosen="print(1)", rejected="print(", generator="t",
                                  content_hash="p1", status=ReviewStatus.ACCEPTED)
    dataset = do_freeze_dataset(lua, "main", dev_percent=0)
    sft = load_dataset("json", data_files=dataset.card["exports"]["sft/train.jsonl"], split="train")
    dpo = load_dataset("parquet", data_files=dataset.card["exports"]["dpo/train.parquet"], split="train")
    assert sft.column_names == ["messages"] and dpo.column_names == ["prompt", "chosen", "rejected"]


@pytest.mark.django_db
def test_empty_dataset_is_refused(lua, tmp_path, settings):
    settings.DATA_DIR = tmp_path
    with pytest.raises(ValueError, match="no accepted Lua items"):
        do_freeze_dataset(lua, "main")
    assert not (tmp_path / "datasets").exists()


@pytest.mark.django_db
def test_an_accepted_edit_is_what_the_dataset_exports(lua, tmp_path, settings, reviewer):
    from curation.models import Review

    settings.DATA_DIR = tmp_path
    sample = Sample.objects.create(language=lua, kind="syntax", prompt="Print one.", code="print(2)", generator="t",
                                   content_hash="e1", status=ReviewStatus.ACCEPTED)
    Review.objects.create(sample=sample, reviewer=reviewer, decision=Review.Decision.ACCEPT, edited_code="print(1)")
    dataset = do_freeze_dataset(lua, "main", dev_percent=0)
    rows = (tmp_path / "datasets" / "lua" / "main-v1" / "cpt" / "train.jsonl").read_text()
    assert json.loads(rows.splitlines()[0]) == {"text": "print(1)"}
    assert Sample.objects.get(pk=sample.pk).code == "print(2)"  # the original stays beside it
    assert dataset.card["items"] == 1


@pytest.mark.django_db
def test_an_accepted_pair_edit_is_what_the_dataset_exports(lua, tmp_path, settings, reviewer):
    from curation.models import Review

    settings.DATA_DIR = tmp_path
    pair = PreferencePair.objects.create(language=lua, prompt="Add.", chosen="return a + b", rejected="return a .. b",
                                         generator="t", content_hash="pe", status=ReviewStatus.ACCEPTED)
    Review.objects.create(pair=pair, reviewer=reviewer, decision=Review.Decision.ACCEPT, edited_code="return b + a",
                          edited_rejected="return a - b")
    dataset = do_freeze_dataset(lua, "main", dev_percent=0)
    row = json.loads((tmp_path / "datasets" / "lua" / "main-v1" / "dpo" / "train.jsonl").read_text().splitlines()[0])
    assert "return b + a" in row["chosen"] and "return a - b" in row["rejected"]
    assert dataset.card["edited_by_reviewers"] == 1
    pair.refresh_from_db()
    assert (pair.chosen, pair.rejected) == ("return a + b", "return a .. b")


@pytest.mark.django_db
def test_an_accepted_docqa_edit_is_what_the_dataset_exports(lua, tmp_path, settings, reviewer):
    from curation.models import DocQAItem, Review

    settings.DATA_DIR = tmp_path
    item = DocQAItem.objects.create(language=lua, question="What is #?", answer="Length (§3.1).",
                                    example_code="print(#'a')", generator="t", content_hash="qe",
                                    status=ReviewStatus.ACCEPTED)
    Review.objects.create(docqa=item, reviewer=reviewer, decision=Review.Decision.ACCEPT,
                          edited_answer="The length operator (§3.1).", edited_code="print(#'abc')")
    do_freeze_dataset(lua, "main", dev_percent=0)
    row = json.loads((tmp_path / "datasets" / "lua" / "main-v1" / "sft" / "train.jsonl").read_text().splitlines()[0])
    answer = row["messages"][1]["content"]
    assert answer.startswith("The length operator (§3.1).") and "print(#'abc')" in answer


@pytest.mark.django_db
def test_an_accepted_edit_its_reviewer_undid_is_not_exported(lua, tmp_path, settings, reviewer):
    import datetime as dt

    from django.utils import timezone

    from curation.models import Review

    settings.DATA_DIR = tmp_path
    sample = Sample.objects.create(language=lua, kind="syntax", prompt="Print one.", code="print(1)", generator="t",
                                   content_hash="u1", status=ReviewStatus.ACCEPTED)
    start = timezone.now() - dt.timedelta(minutes=5)
    for minutes, decision, edited in ((0, "accept", "print(2)"), (1, "undo", ""), (2, "accept", "")):
        review = Review.objects.create(sample=sample, reviewer=reviewer, decision=decision, edited_code=edited)
        Review.objects.filter(pk=review.pk).update(created_at=start + dt.timedelta(minutes=minutes))
    do_freeze_dataset(lua, "main", dev_percent=0)
    rows = (tmp_path / "datasets" / "lua" / "main-v1" / "cpt" / "train.jsonl").read_text()
    assert json.loads(rows.splitlines()[0]) == {"text": "print(1)"}
