"""Run one training job (CPT, SFT, DPO or GRPO) from a TrainingConfig and plain rows.

The Celery task that will call `train` supplies rows from a frozen dataset, a
`progress` callback that records the job's progress, a `should_stop` that reads the
job's cancel flag, and for GRPO a reward function backed by the sandbox. Everything
here works on plain values so it can be tested without a database.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.checkpoints import last_checkpoint, merge_or_load
from training.config import TrainingConfig, check_base_model
from training.methods import METHODS, MethodInputs, RewardFn
from training.progress import JobBridge, ProgressFn, StopFn

__all__ = ["TrainResult", "train", "merge_or_load", "last_checkpoint"]

FINAL_DIR = "final"


@dataclass(frozen=True)
class TrainResult:
    # The weights to use next: the final adapter/model, or the last checkpoint when the
    # run was stopped early (the state it stopped in).
    output_dir: Path
    last_checkpoint: Path | None
    # train_loss, steps, runtime_seconds, tokens_per_second (+ eval_loss with eval rows).
    metrics: dict[str, float] = field(default_factory=dict)
    stopped_early: bool = False


def train(
    config: TrainingConfig,
    rows: Sequence[dict],
    *,
    eval_rows: Sequence[dict] | None = None,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    resume_from: str | Path | None = None,
    reward_fn: RewardFn | None = None,
) -> TrainResult:
    """Train `config.base_model` on `rows` with `config.method`; see TrainResult.

    rows: cpt `{"text"}`; sft `{"messages"}` (or `{"prompt", "completion"}`);
    dpo `{"prompt", "chosen", "rejected"}`; grpo `{"prompt", ...}` with
    `reward_fn(completions, prompt=[...], **other_columns) -> list[float]`.
    `resume_from` is a checkpoint folder of an earlier run of the same config.
    """
    # Re-checked here because a TrainingConfig built directly skips from_mapping's checks.
    config = TrainingConfig.from_mapping(config.to_mapping())
    method = METHODS[config.method]
    _check_rows(method, rows, "rows")
    if eval_rows:
        _check_rows(method, eval_rows, "eval_rows")
    if method.needs_reward and reward_fn is None:
        raise ValueError(f"method {config.method} needs a reward_fn")
    if not method.needs_reward and reward_fn is not None:
        raise ValueError(f"method {config.method} does not use a reward_fn")
    if resume_from is not None and not (Path(resume_from) / "trainer_state.json").is_file():
        raise FileNotFoundError(f"resume_from {resume_from} is not a checkpoint (no trainer_state.json)")
    stale = last_checkpoint(config.output_dir)
    if resume_from is None and stale is not None:
        # Mixing two runs' checkpoints in one folder would make "the last checkpoint"
        # ambiguous, and rotation could delete the other run's.
        raise FileExistsError(
            f"output_dir {config.output_dir} already holds {stale.name} from another run; "
            "resume from it or choose an empty folder"
        )
    base_dir = check_base_model(config.base_model)

    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    _quiet_progress_bars()
    use_cpu = config.device == "cpu" or (config.device == "auto" and not torch.cuda.is_available())
    if use_cpu:
        torch.set_num_threads(config.threads or _usable_cores())
    bf16 = not use_cpu and torch.cuda.is_bf16_supported()

    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    if tokenizer.pad_token is None:
        # Many released base models ship without one; batching needs it.
        tokenizer.pad_token = tokenizer.eos_token
    # Resolved path: PEFT records it in adapter_config.json, and merge_or_load must
    # find the base again from any working directory.
    model = AutoModelForCausalLM.from_pretrained(
        str(base_dir.resolve()),
        dtype=torch.bfloat16 if bf16 else torch.float32,
        **_quantization(config),
    )

    output_dir = Path(config.output_dir)
    common_args: dict[str, Any] = {
        "output_dir": str(output_dir),
        "per_device_train_batch_size": config.batch_size,
        "per_device_eval_batch_size": config.batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation,
        "learning_rate": config.learning_rate,
        "num_train_epochs": config.epochs,
        "max_steps": config.max_steps or -1,
        "warmup_steps": config.warmup_steps,
        "logging_steps": config.logging_steps,
        "save_strategy": "steps",
        "save_steps": config.save_steps,
        "save_total_limit": config.save_total_limit,
        "seed": config.seed,
        "use_cpu": use_cpu,
        # TRL defaults bf16=True, which fails on a CPU without bf16 support.
        "bf16": bf16,
        # The new name: TRL's gradient_checkpointing=True default is a deprecated alias
        # and would switch checkpointing on (about 20% slower) if only it were set.
        "activation_checkpointing": config.gradient_checkpointing,
        "report_to": "none",
        "disable_tqdm": True,
        "dataloader_pin_memory": not use_cpu,
    }
    if eval_rows:
        common_args.update(eval_strategy="steps", eval_steps=config.save_steps)

    trainer = method.build(
        MethodInputs(
            config=config,
            model=model,
            tokenizer=tokenizer,
            train_dataset=Dataset.from_list(list(rows)),
            eval_dataset=Dataset.from_list(list(eval_rows)) if eval_rows else None,
            peft_config=_lora(config),
            common_args=common_args,
            reward_fn=reward_fn,
        )
    )
    # Progress goes through our callback only; the printer would spam the job log.
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    bridge = JobBridge(progress, should_stop)
    trainer.add_callback(bridge)

    output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)

    # The checkpoint this run wrote last: the Trainer saves at the final step and at a stop.
    checkpoint = output_dir / f"checkpoint-{trainer.state.global_step}"
    if not checkpoint.is_dir():
        checkpoint = last_checkpoint(output_dir)
    if bridge.stop_requested and checkpoint is not None:
        weights_dir = checkpoint
    else:
        weights_dir = output_dir / FINAL_DIR
        trainer.save_model(str(weights_dir))
        tokenizer.save_pretrained(weights_dir)
    metrics = {
        "train_loss": float(output.metrics.get("train_loss", float("nan"))),
        "steps": float(trainer.state.global_step),
        "runtime_seconds": float(output.metrics.get("train_runtime", 0.0)),
        "tokens_per_second": float(bridge.tokens_per_second or 0.0),
    }
    if eval_rows and config.method != "grpo" and not bridge.stop_requested:
        # GRPO's eval loss says nothing useful; its evaluation is the sandbox's pass rate.
        evaluated = trainer.evaluate()
        # Absent when no dev row keeps a completion token within max_length (a long prompt
        # truncates it away): then there is no loss to report, not a failed job.
        if "eval_loss" in evaluated:
            metrics["eval_loss"] = float(evaluated["eval_loss"])
    return TrainResult(
        output_dir=weights_dir,
        last_checkpoint=checkpoint,
        metrics=metrics,
        stopped_early=bridge.stop_requested,
    )


def _check_rows(method, rows: Sequence[dict], name: str) -> None:
    if not rows:
        raise ValueError(f"{name} is empty")
    shapes = " or ".join("{" + ", ".join(shape) + "}" for shape in method.row_shapes)
    for index, row in enumerate(rows):
        if not any(all(column in row for column in shape) for shape in method.row_shapes):
            raise ValueError(f"{name}[{index}] has columns {sorted(row)}; method {method.name} needs {shapes}")


def _lora(config: TrainingConfig):
    if not config.uses_lora:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.lora_targets,
        task_type="CAUSAL_LM",
    )


def _quantization(config: TrainingConfig) -> dict[str, Any]:
    if config.adapter != "qlora":
        return {}
    import torch
    from transformers import BitsAndBytesConfig

    return {
        "quantization_config": BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
    }


def _usable_cores() -> int:
    # cpu_count() reports the host's cores; a container or taskset may allow fewer,
    # and oversubscribed threads make every matmul slower.
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _quiet_progress_bars() -> None:
    # Per-call tqdm bars (loading weights, tokenizing) are noise in a job log; the
    # JobBridge reports progress instead.
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
