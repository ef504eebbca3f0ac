"""Inter-reviewer agreement: Cohen's kappa for two reviewers, Fleiss' kappa for many.

Pure: values in, values out, no Django. A kappa is None when it is undefined — too few
items, or chance agreement already 1 (everyone gave every item the same label), where the
formula divides by zero and any number shown would be made up.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import combinations
from typing import Hashable, Iterable, Sequence


def cohen_kappa(first: Sequence[Hashable], second: Sequence[Hashable]) -> float | None:
    """κ = (p_o − p_e) / (1 − p_e) for two raters who labelled the same items, in order."""
    if len(first) != len(second):
        raise ValueError("both raters must label the same items")
    n = len(first)
    if n == 0:
        return None
    observed = sum(a == b for a, b in zip(first, second)) / n
    left, right = Counter(first), Counter(second)
    expected = sum(left[label] * right[label] for label in left.keys() | right.keys()) / (n * n)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


def fleiss_kappa(counts: Sequence[Sequence[int]]) -> float | None:
    """Fleiss' κ from a table: one row per item, one column per category, each cell the
    number of raters who put the item in that category.

    Rows may have different totals (an item seen by three reviewers beside one seen by
    two): each item's agreement is taken over its own rater pairs, and the category
    proportions over all ratings — with equal totals this is exactly Fleiss (1971).
    Items rated by fewer than two raters carry no agreement and are left out."""
    rows = [list(row) for row in counts if sum(row) >= 2]
    if not rows:
        return None
    width = max(len(row) for row in rows)
    rows = [row + [0] * (width - len(row)) for row in rows]
    total = sum(sum(row) for row in rows)
    proportions = [sum(row[j] for row in rows) / total for j in range(width)]
    per_item = []
    for row in rows:
        n = sum(row)
        per_item.append((sum(c * c for c in row) - n) / (n * (n - 1)))
    observed = sum(per_item) / len(per_item)
    expected = sum(p * p for p in proportions)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


@dataclass(frozen=True)
class ReviewerFigures:
    reviewer: Hashable
    decisions: int
    # Mean of this reviewer's Cohen's kappa against each colleague, weighted by the items
    # they share; None when no colleague shares enough items.
    kappa: float | None
    shared_items: int
    colleagues: int


@dataclass(frozen=True)
class QueueFigures:
    items: int            # items decided by at least two reviewers
    ratings: int
    observed: float | None  # share of agreeing rater pairs
    fleiss: float | None
    reviewers: list[ReviewerFigures]
    pairwise: dict[tuple[Hashable, Hashable], tuple[float | None, int]]


def queue_agreement(decisions: Iterable[tuple[Hashable, Hashable, Hashable]], *,
                    min_shared: int = 2) -> QueueFigures:
    """Figures for one queue from (item, reviewer, label) triples. Only items with two or
    more labels say anything about agreement; each reviewer is compared with every
    colleague on the items both labelled (pairs sharing fewer than `min_shared` items
    are too thin to report)."""
    by_item: dict[Hashable, dict[Hashable, Hashable]] = defaultdict(dict)
    all_counts: Counter = Counter()
    for item, reviewer, label in decisions:
        by_item[item][reviewer] = label
    for labels in by_item.values():
        for reviewer in labels:
            all_counts[reviewer] += 1
    multi = {item: labels for item, labels in by_item.items() if len(labels) >= 2}
    categories = sorted({label for labels in multi.values() for label in labels.values()}, key=str)
    table = [[Counter(labels.values())[c] for c in categories] for labels in multi.values()]
    pairs_agreeing = pairs_total = 0
    for labels in multi.values():
        for a, b in combinations(labels.values(), 2):
            pairs_total += 1
            pairs_agreeing += a == b

    shared: dict[tuple, tuple[list, list]] = defaultdict(lambda: ([], []))
    for labels in multi.values():
        for r1, r2 in combinations(sorted(labels, key=str), 2):
            left, right = shared[(r1, r2)]
            left.append(labels[r1])
            right.append(labels[r2])
    pairwise = {key: (cohen_kappa(*vals) if len(vals[0]) >= min_shared else None, len(vals[0]))
                for key, vals in shared.items()}

    reviewers = []
    for reviewer in sorted(all_counts, key=str):
        weighted = weight = shared_total = colleagues = 0
        for (r1, r2), (kappa, n) in pairwise.items():
            if reviewer not in (r1, r2):
                continue
            shared_total += n
            if kappa is not None:
                weighted += kappa * n
                weight += n
                colleagues += 1
        reviewers.append(ReviewerFigures(reviewer, all_counts[reviewer], weighted / weight if weight else None,
                                         shared_total, colleagues))
    return QueueFigures(
        items=len(multi), ratings=sum(len(v) for v in multi.values()),
        observed=pairs_agreeing / pairs_total if pairs_total else None,
        fleiss=fleiss_kappa(table) if table else None, reviewers=reviewers, pairwise=pairwise,
    )


def interpret(kappa: float | None) -> str:
    """Landis & Koch's words for a kappa, for a dashboard that people skim."""
    if kappa is None:
        return "not enough data"
    for bound, word in ((0.0, "poor"), (0.2, "slight"), (0.4, "fair"), (0.6, "moderate"), (0.8, "substantial")):
        if kappa <= bound:
            return word
    return "almost perfect"
