"""Every generator, by name. Adding one is a module in synthesis/generators plus one line here."""
from __future__ import annotations

GENERATORS: dict[str, str] = {
    # name: "module:function" — imported on first use so a missing optional dependency
    # (a model backend) only affects the generators that need it.
    "docqa.sections": "synthesis.generators.docqa:generate",
    "dpo.mutants": "synthesis.generators.dpo:generate",
    "transpile.python": "synthesis.generators.transpile:generate",
    "self_instruct.docs": "synthesis.generators.self_instruct:generate",
    "backtranslate.roundtrip": "synthesis.generators.backtranslate:generate",
    "syntax.recombine": "synthesis.generators.syntax:recombine",
    "syntax.mutate": "synthesis.generators.syntax:mutate",
    "syntax.grammar": "synthesis.generators.syntax:from_grammar",
    "negatives.mutate": "synthesis.generators.negatives:mutate",
    "semantic.properties": "synthesis.generators.semantic:properties",
    "augment.rename": "synthesis.generators.augment:rename",
    "augment.reformat": "synthesis.generators.augment:reformat",
    "augment.reorder": "synthesis.generators.augment:reorder",
    "augment.for_while": "synthesis.generators.augment:for_while",
}

# What a generator reads from a pack, for the job's log when it finds nothing to work from.
NEEDS: dict[str, str] = {
    "syntax.grammar": "the pack's grammar/grammar.json",
    "transpile.python": "a model backend",
    "self_instruct.docs": "a model backend",
    "backtranslate.roundtrip": "a model backend",
    "semantic.properties": "training tasks with tests, and a `print` rule in the pack's synthesis table",
    "dpo.mutants": "training tasks with a reference solution",
    "docqa.sections": "doc sections",
}


def get_generator(name: str):
    import importlib

    try:
        target = GENERATORS[name]
    except KeyError:
        raise KeyError(f"no generator named {name!r}; known: {', '.join(sorted(GENERATORS))}") from None
    module, function = target.split(":")
    return getattr(importlib.import_module(module), function)


# Sandbox limits a generator's programs run under, unless the job says otherwise. The pack's
# limits (Lua: 5 s wall, 3 s CPU) are sized for reviewers' edits and evaluation; synthesized
# programs are small, and a mutant that loops forever would otherwise cost the full budget.
# The sandbox only ever lowers a pack's limits, so these cannot loosen a strict pack.
DEFAULT_LIMITS: dict[str, float] = {"wall_seconds": 2.0, "cpu_seconds": 1.0}
GENERATOR_LIMITS: dict[str, dict[str, float]] = {
    # Most of a DPO chunk is deliberately broken code; a broken loop bound spins until killed.
    "dpo.mutants": {"wall_seconds": 1.0, "cpu_seconds": 0.5},
    "negatives.mutate": {"wall_seconds": 1.0, "cpu_seconds": 0.5},
}
LIMIT_NAMES = ("wall_seconds", "cpu_seconds", "memory_mb", "processes", "output_bytes", "file_bytes")


def check_limits(limits: dict | None) -> dict:
    """A job's `limits` as given, after checking: known names, positive numbers."""
    if limits is None:
        return {}
    if not isinstance(limits, dict):
        raise ValueError("limits must be a JSON object, like {\"wall_seconds\": 2}")
    unknown = set(limits) - set(LIMIT_NAMES)
    if unknown:
        raise ValueError(f"unknown limit(s): {', '.join(sorted(unknown))}; known: {', '.join(LIMIT_NAMES)}")
    for name, value in limits.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"limit {name} must be a positive number")
    return dict(limits)


def limits_for(name: str, job_limits: dict | None = None) -> dict:
    """The limits a generator's programs run under: the defaults, the generator's own, then
    the job's. The sandbox caps every value at the pack's limit."""
    return {**DEFAULT_LIMITS, **GENERATOR_LIMITS.get(name, {}), **check_limits(job_limits)}
