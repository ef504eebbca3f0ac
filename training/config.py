"""The typed settings of one training job, checked before any work starts.

A job that fails after an hour on a typo is the expensive kind of mistake, so
`TrainingConfig.from_mapping` refuses unknown keys and impossible values up front and
names the field at fault. Values may arrive as strings (a web form, a YAML file where
`2e-4` is a string): numeric fields accept numeric strings.
"""
from __future__ import annotations

import dataclasses
import difflib
import importlib.util
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

METHODS = ("cpt", "sft", "dpo", "grpo")
ADAPTERS = ("lora", "qlora", "full")
DEVICES = ("auto", "cpu", "cuda")

# Defaults filled in for the adapter or method that uses them; other methods leave the
# field None so a preview shows what actually applies.
LORA_DEFAULTS = {"lora_r": 16, "lora_alpha": 32.0, "lora_dropout": 0.05, "lora_targets": "all-linear"}
DPO_DEFAULTS = {"dpo_beta": 0.1}
GRPO_DEFAULTS = {"grpo_generations": 4, "grpo_max_completion_length": 64, "grpo_temperature": 1.0}


class ConfigError(ValueError):
    """One or more fields are wrong; `errors` maps each field to what is wrong with it."""

    def __init__(self, errors: dict[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(f"{name}: {message}" for name, message in self.errors.items()))


class BaseModelError(ValueError):
    """`base_model` does not point at a loadable local model folder."""


@dataclass(frozen=True)
class TrainingConfig:
    method: str
    base_model: str
    output_dir: str
    adapter: str = "lora"
    learning_rate: float = 2e-4
    epochs: float = 1.0
    # When set, wins over epochs (the Trainer's own rule).
    max_steps: int | None = None
    # Rows per device step; for GRPO, completions (TRL's meaning), so a step covers
    # batch_size / grpo_generations prompts.
    batch_size: int = 8
    gradient_accumulation: int = 1
    max_length: int = 512
    lora_r: int | None = None
    lora_alpha: float | None = None
    lora_dropout: float | None = None
    # A list of module names, or "all-linear" (every linear layer but the output head).
    lora_targets: list[str] | str | None = None
    dpo_beta: float | None = None
    grpo_generations: int | None = None
    grpo_max_completion_length: int | None = None
    grpo_temperature: float | None = None
    # CPT only: concatenate texts into full max_length blocks instead of padding each.
    packing: bool = True
    seed: int = 0
    save_steps: int = 50
    save_total_limit: int | None = 2
    logging_steps: int = 5
    warmup_steps: int = 0
    # Off by default: on small models it only costs time (~20% per step).
    gradient_checkpointing: bool = False
    device: str = "auto"
    # None: every core this process may run on — fastest on a quiet box. Measured here
    # (2 cores): when other work shares the cores, 2 spinning OpenMP threads fall off a
    # cliff (0.1 -> 2.5 s/step for tiny-base SFT) while 1 thread stays near 0.2-0.3 s/step,
    # so a worker that shares its cores with sandbox runs should set threads=1.
    threads: int | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> TrainingConfig:
        """Build a config from plain values, or raise ConfigError naming every bad field."""
        known = {f.name: f for f in fields(cls)}
        errors: dict[str, str] = {}
        for key in data:
            if key not in known:
                hint = difflib.get_close_matches(str(key), known, n=1)
                errors[str(key)] = "unknown setting" + (f" (did you mean {hint[0]!r}?)" if hint else "")
        values: dict[str, Any] = {}
        for name, spec in known.items():
            if name not in data:
                continue
            try:
                values[name] = _coerce(name, data[name], spec.type)
            except ValueError as exc:
                errors[name] = str(exc)
        for name in ("method", "base_model", "output_dir"):
            if name not in data:
                errors.setdefault(name, "required")
        if errors:
            raise ConfigError(errors)
        errors.update(_impossible_values(values))
        if errors:
            raise ConfigError(errors)
        return cls(**_with_defaults(values))

    def to_mapping(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_mapping(), sort_keys=False, default_flow_style=False)

    @property
    def uses_lora(self) -> bool:
        return self.adapter in ("lora", "qlora")


def _coerce(name: str, value: Any, annotation: str) -> Any:
    """Turn a plain value into the field's type, or raise ValueError saying why not."""
    allows_none = "None" in annotation
    if value is None or (isinstance(value, str) and value.strip() == "" and allows_none):
        if allows_none:
            return None
        raise ValueError("must be set")
    if name == "lora_targets":
        if isinstance(value, str):
            targets = [part.strip() for part in value.split(",") if part.strip()]
            return "all-linear" if targets == ["all-linear"] else targets
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) and v for v in value):
            return list(value)
        raise ValueError("must be 'all-linear' or a list of module names")
    if annotation.startswith("bool"):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ValueError(f"must be true or false, not {value!r}")
    if annotation.startswith("int"):
        # bool is an int subclass; True as a batch size is a bug, not a 1.
        if isinstance(value, bool):
            raise ValueError(f"must be a whole number, not {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ValueError(f"must be a whole number, not {value!r}")
    if annotation.startswith("float"):
        if isinstance(value, bool):
            raise ValueError(f"must be a number, not {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"must be a number, not {value!r}") from None
        if not math.isfinite(number):
            raise ValueError(f"must be a finite number, not {value!r}")
        return number
    if not isinstance(value, str):
        raise ValueError(f"must be text, not {type(value).__name__}")
    return value.strip()


def _impossible_values(v: dict[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    method, adapter = v.get("method"), v.get("adapter", "lora")

    def positive(name: str, *, allow_zero: bool = False) -> None:
        if v.get(name) is not None and (v[name] < 0 or (v[name] == 0 and not allow_zero)):
            errors[name] = f"must be {'zero or more' if allow_zero else 'greater than zero'}, got {v[name]}"

    if method not in METHODS:
        errors["method"] = f"must be one of {', '.join(METHODS)}, got {method!r}"
    if adapter not in ADAPTERS:
        errors["adapter"] = f"must be one of {', '.join(ADAPTERS)}, got {adapter!r}"
    if v.get("device", "auto") not in DEVICES:
        errors["device"] = f"must be one of {', '.join(DEVICES)}, got {v['device']!r}"
    for name in ("base_model", "output_dir"):
        if not v.get(name):
            errors[name] = "must not be empty"
    for name in ("learning_rate", "epochs", "max_steps", "batch_size", "gradient_accumulation", "max_length",
                 "lora_r", "lora_alpha", "dpo_beta", "grpo_max_completion_length", "grpo_temperature",
                 "save_steps", "save_total_limit", "logging_steps", "threads"):
        positive(name)
    for name in ("seed", "warmup_steps"):
        positive(name, allow_zero=True)
    if v.get("lora_dropout") is not None and not 0 <= v["lora_dropout"] < 1:
        errors["lora_dropout"] = f"must be in [0, 1), got {v['lora_dropout']}"
    if v.get("max_length") is not None and v["max_length"] < 16 and "max_length" not in errors:
        errors["max_length"] = f"must be at least 16 tokens, got {v['max_length']}"

    if adapter == "full":
        for name in LORA_DEFAULTS:
            if v.get(name) is not None:
                errors[name] = "only applies to adapter lora or qlora, but adapter is full"
    if adapter == "qlora" and "adapter" not in errors:
        problem = _qlora_unavailable()
        if problem:
            errors["adapter"] = problem
    if v.get("device") == "cuda" and not _cuda_available():
        errors["device"] = "cuda requested but no CUDA GPU is visible to torch"
    for defaults, owner in ((DPO_DEFAULTS, "dpo"), (GRPO_DEFAULTS, "grpo")):
        for name in defaults:
            if v.get(name) is not None and method != owner and method in METHODS:
                errors[name] = f"only applies to method {owner}, but method is {method}"
    if method != "cpt" and v.get("packing") is True and method in METHODS:
        errors["packing"] = f"only applies to method cpt, but method is {method}"

    if method == "grpo" and not errors:
        generations = v.get("grpo_generations")
        generations = GRPO_DEFAULTS["grpo_generations"] if generations is None else generations
        if generations < 2:
            errors["grpo_generations"] = f"must be at least 2 (advantages compare completions), got {generations}"
        else:
            per_round = v.get("batch_size", 8) * v.get("gradient_accumulation", 1)
            # TRL groups completions of one prompt inside a generation batch of
            # batch_size x gradient_accumulation completions.
            if per_round % generations:
                errors["grpo_generations"] = (
                    f"must divide batch_size x gradient_accumulation ({per_round}); "
                    f"got {generations}"
                )
    return errors


def _with_defaults(values: dict[str, Any]) -> dict[str, Any]:
    values = dict(values)
    if values.get("adapter", "lora") in ("lora", "qlora"):
        for name, default in LORA_DEFAULTS.items():
            if values.get(name) is None:
                values[name] = default
    for defaults, owner in ((DPO_DEFAULTS, "dpo"), (GRPO_DEFAULTS, "grpo")):
        if values["method"] == owner:
            for name, default in defaults.items():
                if values.get(name) is None:
                    values[name] = default
    if values["method"] != "cpt":
        values["packing"] = False
    return values


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _qlora_unavailable() -> str | None:
    missing = []
    if importlib.util.find_spec("bitsandbytes") is None:
        missing.append("the bitsandbytes package")
    if not _cuda_available():
        missing.append("a CUDA GPU")
    if missing:
        return f"qlora needs {' and '.join(missing)}, not available here; use lora"
    return None


def check_base_model(path: str | Path) -> Path:
    """Return `path` if it is a local model folder transformers can load, else raise BaseModelError.

    Only local folders: nothing can be downloaded here, and a hub id would otherwise
    surface as a long network timeout deep inside the trainer.
    """
    folder = Path(path).expanduser()
    if not folder.exists():
        raise BaseModelError(
            f"base_model {str(path)!r} does not exist; it must be a local model folder "
            "(hub ids cannot be downloaded here)"
        )
    if not folder.is_dir():
        raise BaseModelError(f"base_model {str(path)!r} is a file, not a model folder")
    if not (folder / "config.json").is_file() and (folder / "adapter_config.json").is_file():
        raise BaseModelError(
            f"base_model {str(path)!r} is a LoRA adapter, not a model; save a merged copy "
            "(training.checkpoints.merge_or_load, then save_pretrained) and train from that"
        )
    if not (folder / "config.json").is_file():
        raise BaseModelError(f"base_model {str(path)!r} has no config.json, so it is not a Hugging Face model folder")
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(folder, local_files_only=True)
    except Exception as exc:  # transformers raises many types for a bad config
        raise BaseModelError(f"base_model {str(path)!r}: config.json cannot be loaded: {exc}") from exc
    return folder
