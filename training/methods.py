"""One entry per training method: which rows it reads and how its TRL trainer is built.

`runner.train` owns everything the methods share (loading, adapters, callbacks,
stop/resume, results); a method only maps a TrainingConfig onto its TRL config and
trainer. Adding a method means adding one builder and one registry entry.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from training.config import TrainingConfig

log = logging.getLogger(__name__)

RewardFn = Callable[..., list[float]]


@dataclass(frozen=True)
class MethodInputs:
    config: TrainingConfig
    model: Any
    tokenizer: Any
    train_dataset: Any
    eval_dataset: Any
    peft_config: Any
    # TrainingArguments fields every method shares (output dir, batch, schedule, saving, device).
    common_args: dict[str, Any]
    reward_fn: RewardFn | None


@dataclass(frozen=True)
class Method:
    name: str
    # Each inner tuple is one accepted row shape; a row must carry all of one of them.
    row_shapes: tuple[tuple[str, ...], ...]
    build: Callable[[MethodInputs], Any]
    needs_reward: bool = False


def _cpt_trainer(inputs: MethodInputs):
    from trl import SFTConfig, SFTTrainer

    config = inputs.config
    args = SFTConfig(
        **inputs.common_args,
        max_length=config.max_length,
        dataset_text_field="text",
        packing=config.packing,
        # "wrapped" concatenates every text (eos-separated) and cuts full blocks: nothing
        # of a long document is dropped (bfd truncates each text to one block), and the
        # batch stays a dense [batch, max_length] tensor, which is what a CPU runs fastest.
        packing_strategy="wrapped",
        completion_only_loss=False,
    )
    return SFTTrainer(
        model=inputs.model,
        args=args,
        train_dataset=inputs.train_dataset,
        eval_dataset=inputs.eval_dataset,
        processing_class=inputs.tokenizer,
        peft_config=inputs.peft_config,
    )


def _sft_trainer(inputs: MethodInputs):
    from trl import SFTConfig, SFTTrainer

    config = inputs.config
    conversational = "messages" in inputs.train_dataset.column_names
    if conversational and not inputs.tokenizer.chat_template:
        raise ValueError(
            f"base model {config.base_model} has no chat template, so 'messages' rows cannot be rendered; "
            "use a model with a template or rows with prompt/completion"
        )
    args = SFTConfig(
        **inputs.common_args,
        max_length=config.max_length,
        assistant_only_loss=conversational and _can_mask_assistant(inputs.tokenizer),
    )
    return SFTTrainer(
        model=inputs.model,
        args=args,
        train_dataset=inputs.train_dataset,
        eval_dataset=inputs.eval_dataset,
        processing_class=inputs.tokenizer,
        peft_config=inputs.peft_config,
    )


def _can_mask_assistant(tokenizer) -> bool:
    """Whether the loss can be limited to the assistant's turns.

    Our tiny base's template marks them with {% generation %}; TRL also knows training
    templates for common model families. For any other template the whole conversation
    is trained on, which still works, just with the prompts in the loss.
    """
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    if has_generation_markers(tokenizer.chat_template):
        return True
    try:
        get_training_chat_template(tokenizer)
    except Exception:  # TRL raises for templates it does not recognise
        log.warning("chat template has no {% generation %} markers; training on whole conversations")
        return False
    return True


def _dpo_trainer(inputs: MethodInputs):
    from trl import DPOConfig, DPOTrainer

    config = inputs.config
    args = DPOConfig(**inputs.common_args, max_length=config.max_length, beta=config.dpo_beta)
    # With a LoRA adapter TRL uses the base with the adapter switched off as the
    # reference model, so no second copy of the weights is held.
    return DPOTrainer(
        model=inputs.model,
        args=args,
        train_dataset=inputs.train_dataset,
        eval_dataset=inputs.eval_dataset,
        processing_class=inputs.tokenizer,
        peft_config=inputs.peft_config,
    )


def _grpo_trainer(inputs: MethodInputs):
    from trl import GRPOConfig, GRPOTrainer

    config = inputs.config
    args = GRPOConfig(
        **inputs.common_args,
        num_generations=config.grpo_generations,
        max_completion_length=config.grpo_max_completion_length,
        temperature=config.grpo_temperature,
        # Extra row columns (tests, task ids) must reach the reward function.
        remove_unused_columns=False,
    )
    return GRPOTrainer(
        model=inputs.model,
        args=args,
        reward_funcs=as_trl_reward(inputs.reward_fn),
        train_dataset=inputs.train_dataset,
        eval_dataset=inputs.eval_dataset,
        processing_class=inputs.tokenizer,
        peft_config=inputs.peft_config,
    )


# Keyword arguments TRL adds for its own reward functions; ours get row columns only.
_TRL_REWARD_EXTRAS = ("trainer_state", "log_extra", "log_metric", "environments", "completion_ids")


def as_trl_reward(reward_fn: RewardFn):
    """Adapt `reward_fn(completions, **row_columns) -> list[float]` to TRL's calling convention.

    TRL passes `prompts=`, `completions=` (chat-shaped `[[{"role", "content"}]]` for
    conversational prompts) and its own extras; the caller's reward — in production the
    sandbox running the row's tests — wants the completion text and the row's columns
    (one list per column, aligned with the completions), including `prompt`.
    """

    def reward(prompts, completions, **columns):
        for extra in _TRL_REWARD_EXTRAS:
            columns.pop(extra, None)
        texts = [_completion_text(completion) for completion in completions]
        rewards = reward_fn(texts, prompt=list(prompts), **columns)
        if len(rewards) != len(texts):
            raise ValueError(f"reward function returned {len(rewards)} rewards for {len(texts)} completions")
        return [None if value is None else float(value) for value in rewards]

    # TRL logs each reward under its function's name (rewards/<name>/mean).
    reward.__name__ = getattr(reward_fn, "__name__", "reward")
    return reward


def _completion_text(completion) -> str:
    if isinstance(completion, str):
        return completion
    return "".join(message.get("content") or "" for message in completion)


METHODS: dict[str, Method] = {
    "cpt": Method("cpt", (("text",),), _cpt_trainer),
    "sft": Method("sft", (("messages",), ("prompt", "completion")), _sft_trainer),
    "dpo": Method("dpo", (("prompt", "chosen", "rejected"),), _dpo_trainer),
    "grpo": Method("grpo", (("prompt",),), _grpo_trainer, needs_reward=True),
}
