"""Resource limits of one execution."""
from __future__ import annotations

from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 5.0
    cpu_seconds: float = 3.0
    memory_mb: int = 256
    processes: int = 16
    output_bytes: int = 65536
    file_bytes: int = 1 << 20

    @classmethod
    def from_mapping(cls, values: dict) -> "Limits":
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown limit(s): {', '.join(sorted(unknown))}")
        limits = cls(**values)
        for f in fields(cls):
            if not getattr(limits, f.name) > 0:
                raise ValueError(f"{f.name} must be positive")
        return limits

    def tightened(self, **overrides) -> "Limits":
        """A caller may lower a pack's limits, never raise them."""
        values = {k: min(v, getattr(self, k)) for k, v in overrides.items() if v is not None}
        return replace(self, **values)
