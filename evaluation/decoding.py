"""How evaluation decodes with a local model: settings applied to the loaded model. No Django."""
from __future__ import annotations


def tune_for_generation(backend) -> None:
    """Decode with a preallocated (static) KV cache and plain matmul attention on CPU.

    Measured on the tiny base (HumanEval-Lua prompts, 60 sequences, 256 new tokens, one
    thread): the default dynamic cache concatenates the whole cache at every step (half
    the time went to torch.cat) and CPU SDPA with a padding mask takes the slow path;
    static + eager made generation ~3x faster with the same samples' distribution. A
    GPU keeps the library's defaults."""
    model = getattr(backend, "model", None)
    if model is None or getattr(model, "device", None) is None or model.device.type != "cpu":
        return
    model.generation_config.cache_implementation = "static"
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")
