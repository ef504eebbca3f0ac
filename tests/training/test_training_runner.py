from __future__ import annotations

import math

import pytest

from tests.training.lua_samples import LUA_SNIPPETS, cpt_rows, sft_rows
from training.config import TrainingConfig
from training.runner import merge_or_load, train

pytestmark = pytest.mark.slow


def job(base, out, method: str, **changes) -> TrainingConfig:
    settings = {
        "method": method,
        "base_model": str(base),
        "output_dir": str(out),
        "max_steps": 6,
        "batch_size": 8,
        "max_length": 128,
        # High for LoRA, so a handful of steps visibly moves a random model.
        "learning_rate": 3e-3,
        "logging_steps": 1,
        "save_steps": 100,
        # One thread: the suite must not collapse when other suites share the cores
        # (two spinning OpenMP threads on a busy 2-core box run ~10x slower).
        "threads": 1,
    }
    return TrainingConfig.from_mapping({**settings, **changes})


def training_logs(events: list[dict]) -> list[dict]:
    """Per-step logs, without the run summary the Trainer logs at the end."""
    return [event for event in events if event["learning_rate"] is not None]


@pytest.fixture(scope="module")
def sft_run(tiny_base, tmp_path_factory):
    events: list[dict] = []
    config = job(tiny_base, tmp_path_factory.mktemp("sft"), "sft", max_steps=8)
    result = train(config, sft_rows(), progress=events.append)
    return result, events


def test_sft_loss_falls_on_tiny_model(sft_run):
    _, events = sft_run
    losses = [event["loss"] for event in training_logs(events)]
    assert sum(losses[-2:]) / 2 < sum(losses[:2]) / 2 - 0.2


def test_progress_reports_every_log(sft_run):
    _, events = sft_run
    steps = training_logs(events)
    assert [event["step"] for event in steps] == list(range(1, 9))
    assert {"step", "max_steps", "loss", "learning_rate", "tokens_per_second", "eta_seconds", "epoch"} <= set(steps[0])
    assert all(event["max_steps"] == 8 and event["tokens_per_second"] > 0 for event in steps)
    assert steps[-1]["eta_seconds"] == 0
    assert steps[0]["eta_seconds"] > 0


def test_result_names_final_adapter_and_metrics(sft_run):
    result, _ = sft_run
    assert result.output_dir.name == "final"
    assert (result.output_dir / "adapter_config.json").is_file()
    assert result.last_checkpoint.name == "checkpoint-8"
    assert not result.stopped_early
    assert result.metrics["steps"] == 8
    assert result.metrics["tokens_per_second"] > 0 and result.metrics["runtime_seconds"] > 0
    assert math.isfinite(result.metrics["train_loss"])


def test_merged_adapter_gives_the_adapter_models_logits(sft_run):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    result, _ = sft_run
    merged, tokenizer = merge_or_load(result.output_dir)
    assert not isinstance(merged, PeftModel)
    base = AutoModelForCausalLM.from_pretrained(merged.config._name_or_path)
    with_adapter = PeftModel.from_pretrained(base, result.output_dir).eval()
    ids = tokenizer("local function add(a, b)", return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        torch.testing.assert_close(merged(ids).logits, with_adapter(ids).logits, atol=1e-4, rtol=1e-4)


def test_cpt_loss_falls_on_packed_text(tiny_base, tmp_path):
    events: list[dict] = []
    train(job(tiny_base, tmp_path, "cpt"), cpt_rows(), progress=events.append)
    losses = [event["loss"] for event in training_logs(events)]
    assert losses[-1] < losses[0] - 0.2


def test_full_fine_tuning_saves_a_whole_model(tiny_base, tmp_path):
    result = train(job(tiny_base, tmp_path, "sft", adapter="full", learning_rate=1e-3, max_steps=2), sft_rows())
    assert (result.output_dir / "model.safetensors").is_file()
    assert not (result.output_dir / "adapter_config.json").exists()
    model, _ = merge_or_load(result.output_dir)
    assert model.config.model_type == "llama"


def test_stop_request_keeps_last_checkpoint(tiny_base, tmp_path):
    events: list[dict] = []
    result = train(
        job(tiny_base, tmp_path, "sft"),
        sft_rows(),
        progress=events.append,
        should_stop=lambda: len(events) >= 2,
    )
    assert result.stopped_early
    assert result.metrics["steps"] == 2
    assert result.last_checkpoint == tmp_path / "checkpoint-2"
    assert result.output_dir == result.last_checkpoint
    assert (result.last_checkpoint / "adapter_model.safetensors").is_file()
    assert not (tmp_path / "final").exists()


def test_resume_continues_step_count(tiny_base, tmp_path):
    config = job(tiny_base, tmp_path, "sft")
    first = train(config, sft_rows(), should_stop=lambda: True)
    assert first.last_checkpoint.name == "checkpoint-1"

    events: list[dict] = []
    resumed = train(config, sft_rows(), progress=events.append, resume_from=first.last_checkpoint)
    assert [event["step"] for event in training_logs(events)] == [2, 3, 4, 5, 6]
    assert resumed.metrics["steps"] == 6
    assert resumed.last_checkpoint.name == "checkpoint-6"
    assert not resumed.stopped_early


def test_eval_rows_give_an_eval_loss(tiny_base, tmp_path):
    rows = sft_rows()
    result = train(job(tiny_base, tmp_path, "sft", max_steps=2), rows[:-4], eval_rows=rows[-4:])
    assert math.isfinite(result.metrics["eval_loss"])


def test_dev_rows_truncated_past_their_completion_give_no_eval_loss_and_no_failure(tiny_base, tmp_path):
    rows = sft_rows()
    too_long = [{"messages": [{"role": "user", "content": "word " * 400},
                              {"role": "assistant", "content": "print(2)"}]}]
    result = train(job(tiny_base, tmp_path, "sft", max_steps=2), rows, eval_rows=too_long)
    assert "eval_loss" not in result.metrics
    assert result.metrics["steps"] == 2


def test_dpo_runs_a_few_steps(tiny_base, tmp_path):
    rows = [
        {"prompt": f"-- Lua program {i}\n", "chosen": snippet, "rejected": snippet.replace("end", "ned")}
        for i, snippet in enumerate(LUA_SNIPPETS)
    ]
    events: list[dict] = []
    result = train(job(tiny_base, tmp_path, "dpo", max_steps=4, batch_size=4), rows, progress=events.append)
    steps = training_logs(events)
    # Policy and reference start equal, so the first DPO loss is -log(sigmoid(0)) = ln 2.
    assert steps[0]["loss"] == pytest.approx(math.log(2), abs=1e-3)
    assert steps[-1]["logs"]["rewards/margins"] > 0
    assert result.metrics["steps"] == 4


def test_grpo_uses_reward_function(tiny_base, tmp_path):
    calls: list[dict] = []

    def ends_blocks(completions, **columns):
        calls.append({"completions": completions, **columns})
        return [1.0 if " end" in text else 0.0 for text in completions]

    rows = [{"prompt": f"-- function {i}\nlocal function f{i}()", "task_id": f"t{i}"} for i in range(8)]
    config = job(
        tiny_base, tmp_path, "grpo", max_steps=2, batch_size=4, grpo_generations=4, grpo_max_completion_length=16
    )
    events: list[dict] = []
    result = train(config, rows, progress=events.append, reward_fn=ends_blocks)

    assert calls, "the reward function was never called"
    first = calls[0]
    assert len(first["completions"]) == 4 and all(isinstance(text, str) for text in first["completions"])
    # Columns arrive one value per completion, aligned: the four samples of one prompt.
    assert len(set(first["task_id"])) == 1 and len(first["prompt"]) == 4
    assert first["prompt"][0] == rows[int(first["task_id"][0][1:])]["prompt"]
    assert "reward" in training_logs(events)[0]["logs"]
    assert result.metrics["steps"] == 2


def test_grpo_reward_gets_plain_text_for_chat_prompts(tiny_base, tmp_path):
    seen: list[str] = []

    def record(completions, **columns):
        seen.extend(completions)
        return [0.0] * len(completions)

    rows = [{"prompt": [{"role": "user", "content": f"Write function {i}."}]} for i in range(4)]
    config = job(
        tiny_base, tmp_path, "grpo", max_steps=1, batch_size=4, grpo_generations=4, grpo_max_completion_length=8
    )
    train(config, rows, reward_fn=record)
    assert seen and all(isinstance(text, str) for text in seen)


def test_rows_missing_columns_are_refused(tiny_base, tmp_path):
    with pytest.raises(ValueError, match=r"rows\[0\] has columns \['text'\]; method dpo needs"):
        train(job(tiny_base, tmp_path, "dpo"), [{"text": "x"}])


def test_grpo_needs_a_reward_function(tiny_base, tmp_path):
    with pytest.raises(ValueError, match="needs a reward_fn"):
        train(job(tiny_base, tmp_path, "grpo", batch_size=4), [{"prompt": "x"}])


def test_resume_from_a_folder_that_is_not_a_checkpoint_is_refused(tiny_base, tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a checkpoint"):
        train(job(tiny_base, tmp_path, "sft"), sft_rows(), resume_from=tmp_path)


def test_output_dir_with_another_runs_checkpoints_is_refused(tiny_base, tmp_path):
    (tmp_path / "checkpoint-6").mkdir()
    with pytest.raises(FileExistsError, match="already holds checkpoint-6 from another run"):
        train(job(tiny_base, tmp_path, "sft"), sft_rows())


def test_directly_built_config_is_still_checked(tiny_base, tmp_path):
    from training.config import ConfigError

    config = TrainingConfig(method="sft", base_model=str(tiny_base), output_dir=str(tmp_path), batch_size=0)
    with pytest.raises(ConfigError, match="batch_size"):
        train(config, sft_rows())
