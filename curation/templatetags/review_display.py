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
