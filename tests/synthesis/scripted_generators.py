"""Generators with a known outcome, for the synthesis task's tests."""
from __future__ import annotations

from synthesis.candidates import Candidate


def contaminated_and_duplicated(source, params, seed):
    """A held-out test task's reference (decontamination must catch it), a program twice
    (the second is a duplicate), and one clean program."""
    heldout = next(t for t in source.content.tasks if t.split == "test" and t.reference.strip())
    call = f"\nprint({heldout.entry_point} ~= nil)\n"
    yield Candidate("syntax", heldout.reference + call, prompt=heldout.prompt, parent=f"task:{heldout.name}")
    yield Candidate("syntax", "local t = {3, 1, 2}\ntable.sort(t)\nprint(t[1], t[3])", prompt="Sort three numbers.")
    yield Candidate("syntax", "local t = {3, 1, 2}\ntable.sort(t)\nprint(t[1],  t[3])  -- again",
                    prompt="Sort three numbers.")
    yield Candidate("syntax", "print(('x'):rep(3))", prompt="Repeat a letter.")


def loops_forever(source, params, seed):
    for i in range(params.get("n", 4)):
        yield Candidate("syntax", f"local i = {i}\nwhile true do i = i + 1 end", prompt=f"Spin {i}.")
