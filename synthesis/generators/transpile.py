"""Python -> target transpilation, the MultiPL-T way: translate tested Python functions and
keep the translations that pass the same tests.

The seeds (synthesis/seeds/python_functions.toml) are Python functions this team wrote,
each with tests in the neutral JSON form — never HumanEval/MBPP, which are evaluation data.
Because the pack's declarative test compiler turns the neutral tests into the target
language, only the function needs translating: the tests carry over unchanged.

For each seed the model gets its description, the Python code, a few of its tests as
Python asserts, and the doc sections most related to the code (keyword retrieval), and
returns k translations. Each becomes a Candidate(kind="transpile") with the seed's tests;
the pipeline keeps those that pass.

params:
  backend (required), k (default 4), temperature (default 0.8), max_new_tokens (default 512)
  seeds: names of seeds to use (default all); offset, limit: a slice of them (for chunking)
  sections: doc sections per prompt (default 3), section_chars: longest section text (default
  1500; lower it for a model with a short context); batch: prompts per backend call (default 16)
  seeds_path: another seed file in the same format
"""
from __future__ import annotations

import ast
import json
import keyword
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from sandbox.testcompiler import parse_tests
from synthesis.candidates import Candidate, Source
from synthesis.prompts import backend_name, extract_code, sample
from synthesis.retrieval import SectionIndex, format_sections

SEEDS_PATH = Path(__file__).resolve().parent.parent / "seeds" / "python_functions.toml"

# Python's own keywords say nothing about which part of the *target's* docs is relevant.
PYTHON_STOPWORDS = frozenset(keyword.kwlist) | {"self", "def", "len", "range", "str", "int", "list", "dict"}


@dataclass(frozen=True)
class PythonSeed:
    name: str
    description: str
    python_source: str
    tests: list

    @property
    def parameters(self) -> list[str]:
        function = next(n for n in ast.parse(self.python_source).body if isinstance(n, ast.FunctionDef))
        return [a.arg for a in function.args.args]


def load_python_seeds(path: Path | str = SEEDS_PATH) -> list[PythonSeed]:
    """The seed file, checked: unique names, a function of that name, neutral tests."""
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    seeds, names = [], set()
    for i, entry in enumerate(data.get("seed", []), 1):
        name = entry.get("name", "")
        if not name.isidentifier() or name in names:
            raise ValueError(f"seed {i}: missing or repeated name {name!r}")
        names.add(name)
        source = entry["python_source"].strip("\n") + "\n"
        tree = ast.parse(source)
        if not any(isinstance(n, ast.FunctionDef) and n.name == name for n in tree.body):
            raise ValueError(f"seed {name}: python_source does not define {name}()")
        tests = [{"args": list(t.args), "expected": t.expected} for t in parse_tests(entry["tests"])]
        seeds.append(PythonSeed(name, entry["description"].strip(), source, tests))
    return seeds


def task_prompt(seed: PythonSeed, pack) -> str:
    """The instruction a trained model will see: what to write, not how to translate."""
    return f"Write a {pack.name} function `{seed.name}({', '.join(seed.parameters)})`. {seed.description}"


# What Python constructs are about, in plain programming words the target's docs will also
# use. Python-side knowledge only (the seeds are always Python), never target-specific.
PYTHON_CONCEPTS = {
    "append": "append insert", "extend": "append insert", "pop": "remove", "len": "length", "dict": "map key",
    "list": "list array sequence", "join": "join concatenation", "str": "string conversion", "int": "integer",
    "float": "float", "sorted": "sort", "sort": "sort", "reversed": "reverse", "split": "split string",
    "items": "iterate key value", "get": "key missing", "upper": "upper case", "lower": "lower case",
    "ord": "byte character code", "chr": "character code", "set": "set unique key", "max": "maximum",
    "min": "minimum", "sum": "sum", "zip": "iterate pairs", "enumerate": "iterate index",
    "isinstance": "type", "range": "numeric for loop", "abs": "absolute",
    ast.FloorDiv: "floor division integer", ast.Mod: "modulo", ast.Pow: "exponentiation float",
    ast.Div: "float division", ast.BitAnd: "bitwise", ast.BitOr: "bitwise", ast.RShift: "bitwise shift",
    ast.LShift: "bitwise shift", ast.While: "while loop", ast.For: "for loop", ast.ListComp: "list loop",
    ast.DictComp: "map loop", ast.Subscript: "index", ast.Slice: "substring slice",
}


def relevant_sections(seed: PythonSeed, index: SectionIndex, k: int = 3) -> list:
    """Sections for the description plus what the code uses — library names and constructs,
    in plain words. Local variable names would only add noise to the query."""
    used = []
    for node in ast.walk(ast.parse(seed.python_source)):
        name = None
        if isinstance(node, ast.Attribute):
            name = node.attr
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name = node.func.id
        elif isinstance(node, ast.BinOp):
            name = type(node.op)
        elif type(node) in PYTHON_CONCEPTS:
            name = type(node)
        if name is not None and name != seed.name:
            used.append(PYTHON_CONCEPTS.get(name, name if isinstance(name, str) else ""))
    return index.search(seed.description + "\n" + " ".join(dict.fromkeys(used)), k)


def translation_prompt(seed: PythonSeed, pack, hits: list, section_chars: int = 1500) -> str:
    examples = "\n".join(f"assert {seed.name}({', '.join(_py(a) for a in t['args'])}) == {_py(t['expected'])}"
                         for t in seed.tests[:3])
    reference = f"Relevant parts of the {pack.name} reference:\n\n{format_sections(hits, max_chars=section_chars)}\n\n" if hits else ""
    return (
        f"Translate this Python function into {pack.name}.\n"
        f"Keep the name `{seed.name}` and the parameters in the same order: the translation is tested by calling "
        f"`{seed.name}(...)` with the same arguments, where Python lists and dicts become {pack.name}'s list and "
        f"map values and None becomes {pack.name}'s null value.\n\n"
        f"{reference}"
        f"Python:\n```python\n# {seed.description}\n{seed.python_source.rstrip()}\n\n{examples}\n```\n\n"
        f"Reply with the {pack.name} function only, in a ```{pack.slug} block."
    )


def _py(value) -> str:
    return repr(json.loads(json.dumps(value)))


def generate(source: Source, params: dict, seed: int) -> Iterator[Candidate]:
    backend = params.get("backend")
    if backend is None:
        raise ValueError("transpile.python needs params['backend'], a model backend")
    content = source.content
    pack = content.pack
    seeds = load_python_seeds(params.get("seeds_path", SEEDS_PATH))
    if params.get("seeds"):
        wanted = set(params["seeds"])
        seeds = [s for s in seeds if s.name in wanted]
    offset = int(params.get("offset", 0))
    seeds = seeds[offset: offset + int(params["limit"])] if params.get("limit") is not None else seeds[offset:]

    index = SectionIndex(content.sections, extra_stopwords=PYTHON_STOPWORDS)
    k = int(params.get("k", 4))
    batch = max(1, int(params.get("batch", 16)))
    model = backend_name(backend)
    for start in range(0, len(seeds), batch):
        chunk = seeds[start:start + batch]
        hits = [relevant_sections(s, index, int(params.get("sections", 3))) for s in chunk]
        prompts = [translation_prompt(s, pack, h, int(params.get("section_chars", 1500))) for s, h in zip(chunk, hits)]
        answers = sample(backend, prompts, n=k, seed=seed + start, temperature=float(params.get("temperature", 0.8)),
                         max_new_tokens=int(params.get("max_new_tokens", 512)))
        for python_seed, seed_hits, texts in zip(chunk, hits, answers):
            anchors = [h.anchor for h in seed_hits]
            seen: set[str] = set()
            for i, text in enumerate(texts):
                code = extract_code(text, pack)
                if not code.strip() or code in seen:
                    continue
                seen.add(code)
                yield Candidate(
                    kind="transpile", code=code, prompt=task_prompt(python_seed, pack), tests=python_seed.tests,
                    entry_point=python_seed.name, parent=f"seed:{python_seed.name}", model=model,
                    metadata={"seed_function": python_seed.name, "sections": anchors, "sample": i,
                              "python_source": python_seed.python_source},
                )
