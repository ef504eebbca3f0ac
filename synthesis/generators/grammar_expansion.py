"""Programs drawn from a tree-sitter grammar.json: its rules expanded to a bounded depth.

The rule language is tree-sitter's (SEQ, CHOICE, REPEAT, REPEAT1, SYMBOL, STRING, PATTERN,
FIELD, PREC*, TOKEN, IMMEDIATE_TOKEN, ALIAS, BLANK). Regex terminals are not sampled: a
lexical rule (a name, a number, a string) takes a text observed in the pack's examples for
that node type, which keeps names and literals plausible. Choices are weighted by how often
the examples use each node type, so the output looks like the language as it is written.
Past the depth bound every rule takes its cheapest expansion, so expansion always ends.
"""
from __future__ import annotations

import json
import math
import random
from pathlib import Path

WRAPPERS = {"FIELD", "PREC", "PREC_LEFT", "PREC_RIGHT", "PREC_DYNAMIC", "RESERVED"}


class ExpansionFailed(Exception):
    pass


def load_grammar(pack_root) -> dict | None:
    path = Path(pack_root) / "grammar" / "grammar.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data.get("rules"), dict) and data["rules"] else None


def grammar_wrappers(grammar: dict | None) -> list:
    """Rules that put fixed tokens around one named child (`do <block> end`), for packs whose
    examples never happen to use them."""
    from synthesis.generators.subtrees import Wrapper

    if not grammar:
        return []
    out = []
    for name, rule in grammar["rules"].items():
        if name.startswith("_") or rule.get("type") != "SEQ":
            continue
        members = rule["members"]
        strings = [m.get("type") == "STRING" for m in members]
        if strings.count(False) != 1 or strings[0] is False or strings[-1] is False:
            continue
        middle = members[strings.index(False)]
        child = _named_child(middle, grammar["rules"])
        if child:
            index = strings.index(False)
            out.append(Wrapper(name, " ".join(m["value"] for m in members[:index]),
                               " ".join(m["value"] for m in members[index + 1:]), frozenset({child})))
    return out


def _named_child(rule: dict, rules: dict) -> str | None:
    kind = rule.get("type")
    if kind in WRAPPERS:
        return _named_child(rule["content"], rules)
    if kind == "ALIAS":
        return rule.get("value") if rule.get("named") else None
    if kind == "SYMBOL":
        return None if rule["name"].startswith("_") else rule["name"]
    if kind == "CHOICE":
        named = [_named_child(m, rules) for m in rule["members"] if m.get("type") != "BLANK"]
        return named[0] if len(named) == 1 else None
    return None


class Expander:
    def __init__(self, grammar: dict, pool: dict[str, list[str]], frequency: dict[str, int], rng: random.Random,
                 *, max_depth: int = 10, max_tokens: int = 300, pool_chance: float = 0.1):
        self.rules: dict = grammar["rules"]
        self.start = next(iter(self.rules))
        self.externals = {e.get("name") for e in grammar.get("externals", []) if e.get("type") == "SYMBOL"}
        self.pool, self.frequency, self.rng = pool, frequency, rng
        self.max_depth, self.max_tokens, self.pool_chance = max_depth, max_tokens, pool_chance
        self.lexical = {name for name in self.rules if self._is_lexical(name)}
        self.cost = self._costs()

    # ------------------------------------------------------------ analysis

    def _is_lexical(self, name: str) -> bool:
        """A rule that bottoms out in regexes without reaching back into the syntax: a token."""
        rule = self.rules[name]
        if rule.get("type") in ("TOKEN", "IMMEDIATE_TOKEN", "PATTERN"):
            return True
        seen, stack, has_pattern = {name}, [rule], False
        while stack:
            node = stack.pop()
            kind = node.get("type")
            if kind == "PATTERN" or kind in ("TOKEN", "IMMEDIATE_TOKEN"):
                has_pattern = True
                continue
            if kind == "SYMBOL":
                target = node["name"]
                if target in self.externals:
                    has_pattern = True
                    continue
                if target in seen:
                    return False
                seen.add(target)
                if target not in self.rules:
                    return False
                stack.append(self.rules[target])
                continue
            stack.extend(node.get("members", []))
            if "content" in node:
                stack.append(node["content"])
        return has_pattern and len(seen) <= 8

    def _costs(self) -> dict[str, float]:
        cost = {name: math.inf for name in self.rules}
        for name in self.lexical:
            fixed = _literal_token(self.rules[name]) is not None
            cost[name] = 1.0 if self.pool.get(name) or fixed else math.inf
        for _ in range(len(self.rules) + 2):
            changed = False
            for name, rule in self.rules.items():
                if name in self.lexical:
                    continue
                value = self._rule_cost(rule, cost)
                if value < cost[name]:
                    cost[name], changed = value, True
            if not changed:
                break
        return cost

    def _rule_cost(self, rule: dict, cost: dict) -> float:
        kind = rule["type"]
        if kind == "SEQ":
            return sum(self._rule_cost(m, cost) for m in rule["members"])
        if kind == "CHOICE":
            return min(self._rule_cost(m, cost) for m in rule["members"])
        if kind == "REPEAT" or kind == "BLANK":
            return 0.0
        if kind == "REPEAT1":
            return self._rule_cost(rule["content"], cost)
        if kind == "SYMBOL":
            name = rule["name"]
            if name in self.externals:
                return 1.0 if self.pool.get(name) else math.inf
            return cost.get(name, math.inf)
        if kind == "STRING":
            return 1.0
        if kind in ("PATTERN",):
            return math.inf
        if kind in ("TOKEN", "IMMEDIATE_TOKEN"):
            return 1.0 if _literal_token(rule["content"]) is not None else math.inf
        if kind == "ALIAS":
            if self.pool.get(rule.get("value", "")) and rule.get("named"):
                return 1.0
            return self._rule_cost(rule["content"], cost)
        return self._rule_cost(rule["content"], cost) if "content" in rule else math.inf

    # ------------------------------------------------------------ expansion

    def program(self) -> str:
        pieces: list[tuple[str, str]] = []
        self._expand(self.rules[self.start], 0, pieces)
        return _join(pieces)

    def _pick_pool(self, name: str, small: bool = False) -> str | None:
        texts = self.pool.get(name)
        if not texts:
            return None
        if small:
            shortest = sorted(texts, key=len)[: max(3, len(texts) // 4)]
            return self.rng.choice(shortest)
        return self.rng.choice(texts)

    def _expand(self, rule: dict, depth: int, out: list[tuple[str, str]], immediate: bool = False) -> None:
        if len(out) > self.max_tokens:
            raise ExpansionFailed("too long")
        kind = rule["type"]
        deep = depth >= self.max_depth
        if kind == "SEQ":
            for member in rule["members"]:
                self._expand(member, depth, out, immediate)
        elif kind == "CHOICE":
            self._expand(self._choose(rule["members"], deep), depth, out, immediate)
        elif kind in ("REPEAT", "REPEAT1"):
            low = 1 if kind == "REPEAT1" else 0
            count = low if deep else low + _geometric(self.rng, 0.45, 4)
            separate_lines = rule["content"].get("type") == "SYMBOL"
            for i in range(count):
                if separate_lines and i:
                    out.append(("\n", "sep"))
                self._expand(rule["content"], depth, out, immediate)
        elif kind == "BLANK":
            return
        elif kind == "STRING":
            out.append((rule["value"], "immediate" if immediate else "token"))
        elif kind == "PATTERN":
            raise ExpansionFailed("an anonymous regex terminal")
        elif kind in ("TOKEN", "IMMEDIATE_TOKEN"):
            text = _literal_token(rule["content"])
            if text is None:
                raise ExpansionFailed("a regex token")
            out.append((text, "immediate" if kind == "IMMEDIATE_TOKEN" or immediate else "token"))
        elif kind == "ALIAS":
            value = rule.get("value", "")
            if rule.get("named") and self.pool.get(value) and (deep or self.rng.random() < self.pool_chance
                                                                or _is_lexical_rule(rule["content"], self.lexical)):
                out.append((self._pick_pool(value, small=deep), "token"))
            else:
                self._expand(rule["content"], depth, out, immediate)
        elif kind == "SYMBOL":
            self._symbol(rule["name"], depth, out, immediate)
        elif kind in WRAPPERS:
            self._expand(rule["content"], depth, out, immediate)
        else:
            raise ExpansionFailed(f"unknown rule type {kind}")

    def _symbol(self, name: str, depth: int, out: list, immediate: bool) -> None:
        deep = depth >= self.max_depth
        if name in self.externals or name in self.lexical:
            text = self._pick_pool(name)
            if text is None:
                if name in self.externals:
                    raise ExpansionFailed(f"external {name} with no observed text")
                self._expand(self.rules[name], depth + 1, out, immediate)
                return
            out.append((text, "immediate" if immediate else "token"))
            return
        if not name.startswith("_") and self.pool.get(name) and (
                (deep and self.rng.random() < 0.7) or self.rng.random() < self.pool_chance):
            out.append((self._pick_pool(name, small=deep), "token"))
            return
        if name not in self.rules:
            raise ExpansionFailed(f"no rule {name}")
        self._expand(self.rules[name], depth + 1, out, immediate)

    def _choose(self, members: list[dict], deep: bool) -> dict:
        if deep:
            costs = [self._rule_cost(m, self.cost) for m in members]
            best = min(costs)
            if math.isinf(best):
                raise ExpansionFailed("no finite choice")
            return self.rng.choice([m for m, c in zip(members, costs) if c == best])
        weights = []
        for member in members:
            cost = self._rule_cost(member, self.cost)
            weights.append(0.0 if math.isinf(cost) else self._weight(member))
        if not any(weights):
            raise ExpansionFailed("no finite choice")
        return self.rng.choices(members, weights=weights)[0]

    def _weight(self, member: dict) -> float:
        kind = member["type"]
        if kind == "SYMBOL":
            name = member["name"]
            if name.startswith("_") or name not in self.frequency:
                # A hidden rule or a supertype: weigh it by what it can become.
                return 1.0 + math.log1p(sum(self.frequency.get(n, 0) for n in _reachable_names(self.rules, name)))
            return 1.0 + math.log1p(self.frequency[name]) * 2
        if kind == "BLANK":
            return 1.5
        if kind in WRAPPERS or kind == "ALIAS":
            return self._weight(member["content"]) if kind in WRAPPERS else 1.0 + math.log1p(
                self.frequency.get(member.get("value", ""), 0))
        return 1.0


def _reachable_names(rules: dict, name: str, limit: int = 2) -> set[str]:
    """Named node types one or two hidden steps below `name` (a supertype's members)."""
    out: set[str] = set()
    frontier = [(rules.get(name, {}), 0)]
    while frontier:
        node, level = frontier.pop()
        kind = node.get("type")
        if kind == "SYMBOL":
            target = node["name"]
            if not target.startswith("_"):
                out.add(target)
            elif level < limit:
                frontier.append((rules.get(target, {}), level + 1))
            continue
        if kind == "CHOICE":
            frontier.extend((m, level) for m in node.get("members", []))
        elif kind in WRAPPERS:
            frontier.append((node["content"], level))
    return out


def _is_lexical_rule(rule: dict, lexical: set[str]) -> bool:
    kind = rule.get("type")
    if kind == "SYMBOL":
        return rule["name"] in lexical
    return kind in ("PATTERN", "TOKEN", "IMMEDIATE_TOKEN")


def _literal_token(rule: dict) -> str | None:
    """The fixed text of a token made only of strings (`token(seq("[", "["))`), else None."""
    kind = rule["type"]
    if kind == "STRING":
        return rule["value"]
    if kind == "SEQ":
        parts = [_literal_token(m) for m in rule["members"]]
        return None if any(p is None for p in parts) else "".join(parts)
    if kind in WRAPPERS:
        return _literal_token(rule["content"])
    if kind == "CHOICE":
        for member in rule["members"]:
            text = _literal_token(member)
            if text is not None:
                return text
    return None


def _geometric(rng: random.Random, p: float, cap: int) -> int:
    n = 0
    while n < cap and rng.random() < p:
        n += 1
    return n


# Punctuation that hugs its neighbour in nearly every language's usual style; the caller
# re-parses the result, so a language where this changes the tokens loses only the sample.
_NO_SPACE_BEFORE = {",", ";", ")", "]", ".", ":"}
_NO_SPACE_AFTER = {"(", "[", ".", ":"}


def _join(pieces: list[tuple[str, str]]) -> str:
    out: list[str] = []
    previous = ""
    for text, role in pieces:
        if role == "sep":
            out.append("\n")
            previous = "\n"
            continue
        hugs = text in _NO_SPACE_BEFORE or previous in _NO_SPACE_AFTER
        if role == "immediate" or not out or previous == "\n" or hugs:
            out.append(text)
        else:
            out.append(" " + text)
        previous = text
    return "".join(out).strip() + "\n"
