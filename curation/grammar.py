"""tree-sitter grammars that load offline, and the syntax problems they find.

A pack names its grammar; the standalone wheel `tree_sitter_<name>` is tried first (the
Lua one carries highlight queries), then tree-sitter-language-pack 0.13, which bundles
compiled grammars (1.x downloads them at run time and fails offline: FACTS.md).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import lru_cache

import tree_sitter


class GrammarUnavailable(LookupError):
    pass


@lru_cache(maxsize=None)
def language_for(grammar: str) -> tree_sitter.Language:
    try:
        module = importlib.import_module(f"tree_sitter_{grammar.replace('-', '_')}")
        return tree_sitter.Language(module.language())
    except (ImportError, AttributeError):
        pass
    try:
        from tree_sitter_language_pack import get_language

        return get_language(grammar)
    except Exception as exc:  # the pack raises LookupError or ValueError depending on version
        raise GrammarUnavailable(f"no tree-sitter grammar named {grammar!r} is installed") from exc


def parse(code: str, grammar: str) -> tree_sitter.Tree:
    return tree_sitter.Parser(language_for(grammar)).parse(code.encode("utf-8"))


@dataclass(frozen=True)
class SyntaxProblem:
    line: int  # 1-based
    column: int  # 1-based
    kind: str  # "error" or "missing"
    text: str


def syntax_problems(code: str, grammar: str, limit: int = 5) -> list[SyntaxProblem]:
    """ERROR and MISSING nodes, first ones first."""
    tree = parse(code, grammar)
    if not tree.root_node.has_error:
        return []
    problems: list[SyntaxProblem] = []
    cursor = [tree.root_node]
    while cursor and len(problems) < limit:
        node = cursor.pop()
        if node.is_error or node.is_missing:
            row, col = node.start_point
            text = node.text.decode("utf-8", "replace")[:40] if node.text else ""
            problems.append(SyntaxProblem(row + 1, col + 1, "missing" if node.is_missing else "error",
                                          f"missing {node.type}" if node.is_missing else text))
            continue
        if node.has_error:
            cursor.extend(reversed(node.children))
    return problems


def parses(code: str, grammar: str) -> bool:
    return not parse(code, grammar).root_node.has_error
