"""Rendering text from docs, generated code and program output — always escaped or sanitised."""
from __future__ import annotations

from functools import lru_cache

import markdown as md
import nh3
from django import template
from django.utils.safestring import mark_safe
from pygments import highlight as pygments_highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import TextLexer, get_lexer_by_name
from pygments.util import ClassNotFound

register = template.Library()

ALLOWED_TAGS = {"p", "pre", "code", "em", "strong", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td",
                "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "a", "br", "hr", "span", "div"}


@register.filter
def markdown(text: str) -> str:
    """Docs are Markdown written by pack authors: convert, then sanitise (no script, no handlers)."""
    html = md.markdown(text or "", extensions=["fenced_code", "tables"])
    return mark_safe(nh3.clean(html, tags=ALLOWED_TAGS, attributes={"a": {"href"}, "code": {"class"}},
                               url_schemes={"http", "https"}))


# Built once: a lexer and an HtmlFormatter cost more to make than a short program costs to
# highlight (the formatter builds its whole stylesheet in __init__), and both are reusable —
# they keep no state between calls but memos (the formatter's span per token type).
_FORMATTER = HtmlFormatter(nowrap=False, linenos="table", cssclass="code")
# Programs longer than this are highlighted every time rather than kept in the cache below.
_CACHED_CODE_CHARS = 20_000


@lru_cache(maxsize=64)
def _lexer(language: str):
    try:
        return get_lexer_by_name(language) if language else TextLexer()
    except ClassNotFound:
        return TextLexer()


@lru_cache(maxsize=256)
def _highlighted(code: str, language: str) -> str:
    # The same item is drawn again on a reload, an undo, a refused decision or an edit.
    return pygments_highlight(code, _lexer(language), _FORMATTER)


@register.filter
def highlight(code: str, language: str = "") -> str:
    """Pygments escapes everything it emits; unknown languages fall back to plain text."""
    code, language = code or "", language or ""
    if len(code) > _CACHED_CODE_CHARS:
        return mark_safe(pygments_highlight(code, _lexer(language), _FORMATTER))
    return mark_safe(_highlighted(code, language))
