"""Training tokens per second: `training.runner.train` against a bare TRL SFTTrainer script.

Both sides fine-tune the same locally built tiny base with LoRA SFT on the same rows and
settings, in this process, alternating after one warm-up each. The orchestrated side
includes everything a job pays for (config validation, base model check, progress
callback writing to a list on every step, the final adapter save); the bare side is
what one would write by hand. Wall time covers loading, training and saving on both
sides. Run: .venv/bin/python bench/training.py

The machines are shared (other test suites run beside this one on the same 2 cores),
and a contended run can take 5x longer than a quiet one. Interference only ever adds
time, so the ratio compares each side's best run (as `timeit` does), over several short
alternating rounds; the medians are printed for context. Both sides run on one torch
thread by default (`--threads N` to change): on a busy 2-core box two spinning OpenMP
threads slow down 10-30x and erratically, which would drown the overhead being measured,
while one thread degrades gently. The overhead itself does not depend on the thread count.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox.pack import load_pack  # noqa: E402
from training.config import TrainingConfig  # noqa: E402
from training.runner import train  # noqa: E402
from training.tiny_base import build_tiny_base  # noqa: E402

ROUNDS = 6
SETTINGS = {
    "method": "sft",
    "adapter": "lora",
    "max_steps": 15,
    "batch_size": 8,
    "max_length": 128,
    "learning_rate": 1e-3,
    "logging_steps": 1,
    "save_steps": 10,
    "seed": 0,
    "threads": 1,
}


def lua_programs() -> list[str]:
    """Distinct small programs of the shapes the synthesis stage produces."""
    ops = [("add", "+"), ("sub", "-"), ("mul", "*"), ("idiv", "//"), ("mod", "%"), ("cat", "..")]
    programs = []
    for i in range(48):
        name, op = ops[i % len(ops)]
        programs.append(
            f"local function {name}_{i}(a, b)\n"
            f"  if a == nil or b == nil then\n    return nil\n  end\n"
            f"  local r = a {op} b\n"
            f"  for k = 1, {i % 5 + 1} do\n    if k ~= {i % 3} then r = r {op} k end\n  end\n"
            f"  return r\nend\nprint({name}_{i}({i}, {i + 2}))"
        )
    return programs


def sft_rows(programs: list[str]) -> list[dict]:
    return [
        {"messages": [
            {"role": "user", "content": f"Write a Lua function that applies step {i} to two numbers."},
            {"role": "assistant", "content": program},
        ]}
        for i, program in enumerate(programs)
    ]


def orchestrated(base: Path, rows: list[dict], out: Path) -> dict:
    events: list[dict] = []
    started = time.perf_counter()
    config = TrainingConfig.from_mapping({**SETTINGS, "base_model": str(base), "output_dir": str(out)})
    result = train(config, rows, progress=events.append)
    wall = time.perf_counter() - started
    tokens = max(e["logs"].get("num_tokens", 0) for e in events)
    return {"wall": wall, "loop": result.metrics["runtime_seconds"], "tokens": tokens}


def bare(base: Path, rows: list[dict], out: Path) -> dict:
    """The hand-written equivalent: same model, rows, LoRA and SFT settings."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    args = SFTConfig(
        output_dir=str(out),
        per_device_train_batch_size=SETTINGS["batch_size"],
        max_steps=SETTINGS["max_steps"],
        learning_rate=SETTINGS["learning_rate"],
        logging_steps=SETTINGS["logging_steps"],
        save_steps=SETTINGS["save_steps"],
        save_total_limit=2,
        seed=SETTINGS["seed"],
        max_length=SETTINGS["max_length"],
        assistant_only_loss=True,
        use_cpu=True,
        bf16=False,
        activation_checkpointing=False,
        report_to="none",
        disable_tqdm=True,
        dataloader_pin_memory=False,
    )
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM")
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer, peft_config=lora
    )
    trainer.remove_callback(PrinterCallback)  # silent, like the orchestrated side
    output = trainer.train()
    trainer.save_model(str(out / "final"))
    wall = time.perf_counter() - started
    tokens = max(entry.get("num_tokens", 0) for entry in trainer.state.log_history)
    return {"wall": wall, "loop": output.metrics["train_runtime"], "tokens": tokens}


def main() -> None:
    import datasets
    import torch
    import transformers

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both sides")
    SETTINGS["threads"] = parser.parse_args().threads
    # train() sets the thread count from the config; the bare side inherits it from here.
    torch.set_num_threads(SETTINGS["threads"])
    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    pack = load_pack(ROOT / "languages" / "lua")
    programs = lua_programs()
    rows = sft_rows(programs)
    work = Path(tempfile.mkdtemp(prefix="bench-training-"))
    base = build_tiny_base(programs, work / "base", keep_whole=[*pack.keywords, *pack.operators])

    sides = {"train()": orchestrated, "bare TRL": bare}
    for name, run in sides.items():  # warm-up: imports, first-call kernel setup
        run(base, rows, work / f"warmup-{name.replace(' ', '_')}")
    results: dict[str, list[dict]] = {name: [] for name in sides}
    print(f"tiny base LoRA SFT, {SETTINGS['max_steps']} steps x batch {SETTINGS['batch_size']} x "
          f"max_length {SETTINGS['max_length']}, torch threads {SETTINGS['threads']}")
    print(f"{'round':>5}  {'side':<9} {'wall s':>7} {'loop s':>7} {'tokens':>7} {'tok/s wall':>10} {'tok/s loop':>10}")
    for round_number in range(1, ROUNDS + 1):
        for name, run in sides.items():
            r = run(base, rows, work / f"r{round_number}-{name.replace(' ', '_').replace('()', '')}")
            r["rate"], r["loop_rate"] = r["tokens"] / r["wall"], r["tokens"] / r["loop"]
            results[name].append(r)
            print(
                f"{round_number:>5}  {name:<9} {r['wall']:>7.2f} {r['loop']:>7.2f} {r['tokens']:>7.0f} "
                f"{r['rate']:>10.0f} {r['loop_rate']:>10.0f}"
            )
    print()
    print(f"{'side':<9} {'best tok/s':>10} {'median tok/s':>12} {'best s/step':>11} {'best loop tok/s':>15}")
    best = {}
    for name, runs in results.items():
        best[name] = max(r["rate"] for r in runs)
        print(
            f"{name:<9} {best[name]:>10.0f} {statistics.median(r['rate'] for r in runs):>12.0f} "
            f"{min(r['loop'] for r in runs) / SETTINGS['max_steps']:>11.3f} {max(r['loop_rate'] for r in runs):>15.0f}"
        )
    median_ratio = statistics.median(r["rate"] for r in results["train()"]) / statistics.median(
        r["rate"] for r in results["bare TRL"]
    )
    print(f"median ratio (noisy on a shared machine): {median_ratio:.3f}")
    print(f"ratio: {best['train()'] / best['bare TRL']:.3f}")

if __name__ == "__main__":
    main()
