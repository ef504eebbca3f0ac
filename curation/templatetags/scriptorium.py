"""Rendering text from docs, generated code and program output — always escaped or sanitised."""
from __future__ import annotations

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


@register.filter
def highlight(code: str, language: str = "") -> str:
    """Pygments escapes everything it emits; unknown languages fall back to plain text."""
    try:
        lexer = get_lexer_by_name(language) if language else TextLexer()
    except ClassNotFound:
        lexer = TextLexer()
    return mark_safe(pygments_highlight(code or "", lexer, HtmlFormatter(nowrap=False, linenos="table", cssclass="code")))
