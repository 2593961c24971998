"""Annotator instructions: Markdown rendered to safe HTML.

Raw HTML in the Markdown is shown as text (markdown-it-py with ``html`` off escapes it),
images are not rendered, and links keep only ``http``, ``https`` and ``mailto`` targets
(any other link is shown as plain text).
"""

from __future__ import annotations

from markdown_it import MarkdownIt
from markupsafe import Markup

SAFE_SCHEMES = ("http:", "https:", "mailto:")


def _safe_link(url: str) -> bool:
    return url.strip().lower().startswith(SAFE_SCHEMES)


def _renderer() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.disable("image")
    md.validateLink = _safe_link  # type: ignore[method-assign]
    md.add_render_rule("link_open", _link_open)
    return md


def _link_open(self: object, tokens: list, idx: int, options: object, env: object) -> str:  # type: ignore[type-arg]
    tokens[idx].attrSet("rel", "noopener noreferrer nofollow")
    tokens[idx].attrSet("target", "_blank")
    return self.renderToken(tokens, idx, options, env)  # type: ignore[attr-defined,no-any-return]


_MD = _renderer()


def render_instructions(text: str) -> Markup:
    """The instructions as HTML that is safe to insert into a page (empty for none)."""
    return Markup(_MD.render(text)) if text.strip() else Markup("")
