"""Finding checkpoints and turning one into a model ready for generation."""
from __future__ import annotations

import json
import re
from pathlib import Path

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def last_checkpoint(output_dir: str | Path) -> Path | None:
    """The `checkpoint-N` folder with the highest N under `output_dir`, or None."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return None
    numbered = [
        (int(match.group(1)), child)
        for child in folder.iterdir()
        if child.is_dir() and (match := _CHECKPOINT.match(child.name))
    ]
    return max(numbered)[1] if numbered else None


def is_adapter(folder: str | Path) -> bool:
    return (Path(folder) / "adapter_config.json").is_file()


def adapter_base(folder: str | Path) -> str:
    """The base model folder a LoRA adapter was trained on (recorded by PEFT)."""
    config = json.loads((Path(folder) / "adapter_config.json").read_text())
    return config["base_model_name_or_path"]


def merge_or_load(checkpoint_dir: str | Path, *, dtype=None):
    """Load a checkpoint as (model, tokenizer) ready for generation.

    A full model folder loads as it is. A LoRA adapter folder loads its base model
    (recorded in adapter_config.json) and merges the adapter in: merged weights
    generate at the base model's speed, with no adapter indirection per layer.
    The tokenizer comes from the checkpoint when it has one (the Trainer saves it
    there), else from the base.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = Path(checkpoint_dir)
    if not (folder / "config.json").is_file() and not is_adapter(folder):
        raise FileNotFoundError(f"{folder} holds neither a model (config.json) nor an adapter (adapter_config.json)")
    dtype = dtype or torch.float32
    if is_adapter(folder):
        from peft import PeftModel

        base_dir = adapter_base(folder)
        model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=dtype)
        model = PeftModel.from_pretrained(model, folder).merge_and_unload()
    else:
        base_dir = str(folder)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
    has_tokenizer = (folder / "tokenizer.json").is_file() or (folder / "tokenizer_config.json").is_file()
    tokenizer = AutoTokenizer.from_pretrained(folder if has_tokenizer else base_dir)
    model.eval()
    return model, tokenizer
