"""MkDocs hook: the Sphinx roles in docstrings (``:func:`x```) as code, linked when possible.

The docstrings follow NumPy style with Sphinx cross-reference roles, which mkdocstrings
shows verbatim (":class:" before the name). This turns each role into the name alone, as
an optional autorefs link: a fully qualified name that the API reference documents becomes
a link, any other name stays plain code (no warning).
"""

from __future__ import annotations

import re
from typing import Any

ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|exc|obj|const):<code>(~?)([\w.]+)</code>")


def _ref(match: re.Match[str]) -> str:
    short, name = match[1] == "~", match[2]
    shown = f"<code>{name.rsplit('.', 1)[-1] if short else name}</code>"
    if "." not in name:
        return shown
    return f'<autoref identifier="{name}" optional>{shown}</autoref>'


def on_page_content(html: str, **kwargs: Any) -> str:
    """Replace every role in the rendered page."""
    return ROLE.sub(_ref, html)
