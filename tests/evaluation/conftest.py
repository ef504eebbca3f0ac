"""Fixtures for the evaluation shells: a tiny model built from the Lua pack's own code and
registered as a base checkpoint (real generation, real sandbox), and the suites."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import LUA_PACK

HUMANEVAL_LUA = Path("/work/shared/benchmarks/multipl-e/humaneval-lua.jsonl")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """An untrained tiny Llama with a tokenizer trained on the pack's examples and train
    references; small, so a run of a few problems takes seconds."""
    from curation.packs import read_pack
    from training.tiny_base import build_tiny_base

    content = read_pack(LUA_PACK)
    pack = content.pack
    corpus = [e.code for e in content.examples] + [t.reference for t in content.tasks if t.split == "train"]
    return build_tiny_base(corpus, tmp_path_factory.mktemp("eval-tiny-base"),
                           keep_whole=list(pack.keywords) + list(pack.operators), vocab_size=800, hidden_size=64,
                           layers=2, heads=2, max_positions=1024, seed=0)


def make_checkpoint(language, model_dir: Path, name: str = "tiny-base", **fields):
    from training.models import Checkpoint

    values = dict(method="base", base_model=str(model_dir), path=str(model_dir), adapter="")
    values.update(fields)
    return Checkpoint.objects.create(language=language, name=name, **values)


@pytest.fixture
def tiny_checkpoint(lua, tiny_model_dir):
    return make_checkpoint(lua, tiny_model_dir)


@pytest.fixture
def second_checkpoint(lua, tiny_model_dir, tmp_path):
    """Another registered checkpoint of the same weights (another folder, as training
    would make): enough for trends and comparisons, which need two checkpoints."""
    import shutil

    target = tmp_path / "tiny-copy"
    shutil.copytree(tiny_model_dir, target)
    return make_checkpoint(lua, target, name="tiny-copy", method="sft")


@pytest.fixture
def pack_suites(lua) -> dict:
    from evaluation.actions import do_sync_pack_suites

    return {suite.name: suite for suite in do_sync_pack_suites(lua)}


@pytest.fixture
def humaneval_suite(lua):
    from evaluation.actions import do_import_multiple

    return do_import_multiple(lua, HUMANEVAL_LUA)


def run_now(checkpoint, suite, **options):
    """Start a run and perform it in this process, as the in-process default would."""
    from evaluation.actions import do_start_run
    from evaluation.runner import perform_run

    test_libraries = options.pop("test_libraries", None)
    run = do_start_run(checkpoint, suite, send=False, **options)
    return perform_run(run.pk, test_libraries=test_libraries)
