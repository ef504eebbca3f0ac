"""Keyword retrieval of a pack's doc sections (BM25), pure.

Used to put the relevant reference text into model prompts (transpilation, self-instruct)
and by the evaluation assistant. Keyword overlap, not embeddings: it needs no model and
works the same for any language, because the sections are the pack's own prose and code.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+")
CAMEL = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")

# English function words carry no topic. Kept short on purpose: a language keyword such
# as "for" or "in" is noise too, but it is the pack's business to say which words those
# are, so callers may pass `extra_stopwords` (e.g. the pack's keywords).
STOPWORDS = frozenset("""
a an and are as at be by can do does each for from has have how if in into is it its
of on or so such than that the their them then there these this to was what when which
while with without you your will would should may not no one use used using value values
""".split())


def tokens(text: str, stopwords: frozenset[str] = STOPWORDS) -> list[str]:
    """Lower-case words; snake_case and camelCase names also yield their parts, so
    `string_split` in a query meets "split" in the docs."""
    out: list[str] = []
    for word in WORD.findall(text):
        low = word.lower()
        if low not in stopwords and len(low) > 1:
            out.append(_stem(low))
        parts = [p.lower() for piece in word.split("_") for p in CAMEL.findall(piece)]
        if len(parts) > 1:
            out.extend(_stem(p) for p in parts if p not in stopwords and len(p) > 1)
    return out


def _stem(word: str) -> str:
    # Plurals only: "words" meets "word", "keys" meets "key"; anything cleverer needs a
    # language-aware stemmer and mostly merges words that should stay apart.
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


@dataclass(frozen=True)
class Hit:
    section: object  # a curation.packs.SectionData (anything with anchor, title, body)
    score: float

    @property
    def anchor(self) -> str:
        return self.section.anchor


class SectionIndex:
    """BM25 over sections; the title counts `title_weight` times, since a title names the
    topic far more reliably than a word in passing."""

    def __init__(self, sections: Sequence, *, k1: float = 1.2, b: float = 0.75, title_weight: int = 3,
                 extra_stopwords: Iterable[str] = ()):
        self.sections = list(sections)
        self.k1, self.b = k1, b
        self.stopwords = STOPWORDS | frozenset(w.lower() for w in extra_stopwords)
        self._tf: list[Counter] = []
        for section in self.sections:
            words = tokens(section.title, self.stopwords) * title_weight + tokens(section.body, self.stopwords)
            self._tf.append(Counter(words))
        self._len = [sum(tf.values()) for tf in self._tf]
        self._avg = (sum(self._len) / len(self._len)) if self._len else 0.0
        df: Counter = Counter()
        for tf in self._tf:
            df.update(tf.keys())
        n = len(self.sections)
        self._idf = {w: math.log(1 + (n - d + 0.5) / (d + 0.5)) for w, d in df.items()}

    def search(self, query: str, k: int = 3, *, exclude: Iterable[str] = ()) -> list[Hit]:
        """The k best sections with a positive score, best first; ties keep document order
        so the result is deterministic."""
        words = Counter(tokens(query, self.stopwords))
        if not words or not self.sections:
            return []
        skip = set(exclude)
        scored = []
        for i, tf in enumerate(self._tf):
            if self.sections[i].anchor in skip:
                continue
            norm = self.k1 * (1 - self.b + self.b * self._len[i] / (self._avg or 1))
            score = 0.0
            for word, q in words.items():
                f = tf.get(word)
                if f:
                    score += q * self._idf[word] * f * (self.k1 + 1) / (f + norm)
            if score > 0:
                scored.append((-score, i))
        scored.sort()
        return [Hit(self.sections[i], -neg) for neg, i in scored[:k]]


def format_sections(hits: Iterable[Hit | object], *, max_chars: int = 1500) -> str:
    """Sections as prompt text, each under its anchor so a model can cite it."""
    parts = []
    for hit in hits:
        section = hit.section if isinstance(hit, Hit) else hit
        body = section.body
        if len(body) > max_chars:
            body = body[:max_chars].rsplit("\n", 1)[0] + "\n[...]"
        parts.append(f"{section.anchor} {section.title}\n{body}")
    return "\n\n".join(parts)
