"""The bridge between a running Trainer and the job that owns it: progress out, stop in."""
from __future__ import annotations

import time
from collections.abc import Callable

from transformers import TrainerCallback

ProgressFn = Callable[[dict], None]
StopFn = Callable[[], bool]


class JobBridge(TrainerCallback):
    """Reports every log as a flat progress dict and stops cleanly when asked.

    A stop request is honoured at the next optimizer step: the Trainer is told to
    save a checkpoint and leave its loop, so the work done so far is kept and the job
    can be resumed from that checkpoint later.
    """

    def __init__(self, progress: ProgressFn | None = None, should_stop: StopFn | None = None):
        self.progress = progress
        self.should_stop = should_stop
        self.stop_requested = False
        self.tokens_per_second: float | None = None
        self._started = 0.0
        self._first_step = 0
        self._first_tokens = 0
        self._tokens = 0

    def on_train_begin(self, args, state, control, **kwargs):
        self._started = time.monotonic()
        # On resume the state holds the checkpoint's step; rates and ETA are measured
        # over this session only. TRL's SFT/DPO count tokens per trainer instance (from 0)
        # while GRPO counts in the restored state, so the baseline is the state's counter:
        # 0 for the former, the checkpoint's count for the latter.
        self._first_step = state.global_step
        self._first_tokens = state.num_input_tokens_seen or 0
        self._tokens = self._first_tokens

    def on_step_end(self, args, state, control, **kwargs):
        self._stop_if_asked(control)

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "num_tokens" in logs:
            self._tokens = logs["num_tokens"]
        elapsed = time.monotonic() - self._started
        steps_done = state.global_step - self._first_step
        if elapsed > 0 and self._tokens > self._first_tokens:
            self.tokens_per_second = (self._tokens - self._first_tokens) / elapsed
        eta = None
        if steps_done > 0 and state.max_steps:
            eta = max(0.0, (state.max_steps - state.global_step) * elapsed / steps_done)
        if self.progress is not None:
            self._report(state, logs, eta)
        # Logging happens after on_step_end but before the step's checkpoint decision:
        # a stop asked for while this step's progress was recorded (a job typically
        # reads its cancel flag when it writes progress) is honoured at this step.
        self._stop_if_asked(control)

    def _report(self, state, logs: dict, eta: float | None) -> None:
        self.progress(
            {
                "step": state.global_step,
                "max_steps": state.max_steps,
                "loss": _number(logs.get("loss", logs.get("train_loss"))),
                "learning_rate": _number(logs.get("learning_rate")),
                "tokens_per_second": self.tokens_per_second,
                "eta_seconds": eta,
                "epoch": _number(state.epoch),
                "stopping": self.stop_requested,
                # Everything else the trainer logged (eval_loss, reward, ...), for curves.
                "logs": {key: _number(value) for key, value in logs.items() if _number(value) is not None},
            }
        )

    def _stop_if_asked(self, control) -> None:
        if not self.stop_requested and self.should_stop is not None and self.should_stop():
            self.stop_requested = True
        if self.stop_requested:
            control.should_training_stop = True
            control.should_save = True


def _number(value) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
