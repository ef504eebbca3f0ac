"""Showing untrusted program text on review pages: control characters made visible.

Django's autoescaping already turns markup (`<script>`) into text. Control characters are
the other half: an ANSI escape or a stray NUL replacement in stdout would otherwise vanish
or garble the page, hiding what the program really printed. Each becomes its Unicode
"control picture" (ESC → ␛, BEL → ␇), so `\x1b[31m` reads as `␛[31m`. The result is a
plain string, still escaped by the template.
"""
from __future__ import annotations

import re

from django import template
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

register = template.Library()

# C0 controls except tab and newline, DEL, and the C1 range (0x80–0x9f).
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")


def _picture(match: re.Match) -> str:
    code = ord(match.group(0))
    if code < 0x20:
        return chr(0x2400 + code)
    if code == 0x7F:
        return "\u2421"
    return f"\\x{code:02x}"


@register.filter
def visible(text) -> str:
    return CONTROL.sub(_picture, "" if text is None else str(text))


@register.simple_tag
def options(field, values=None, blank: str = ""):
    """The <option>s of a select, the current value selected, built in one pass: Django's
    widget templates render every option as a template of its own (about 165 on a browse
    page with fifty reviewers: half of the page's rendering). `field` is a bound form
    field; its choices, or `values` (each its own label) after a `blank` "any" option."""
    current = field.value()
    current = "" if current is None else str(current)
    choices = field.field.choices if values is None else [("", blank), *((v, v) for v in values)]
    return format_html_join("", "<option value=\"{}\"{}>{}</option>",
                            ((value, mark_safe(" selected") if str(value) == current else "", label)
                             for value, label in choices))
