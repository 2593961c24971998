"""Read the fenced code blocks of a Markdown page, the way the tutorials tests run them.

A block runs when its language is ``bash`` or ``python``; a block with a ``title="NAME"``
(any language) is a file the reader saves as NAME (written, not run); a block right after
the comment ``<!-- docs-test: skip -->`` is only shown (a server that runs until Ctrl-C).
Every other language (``text``, ``yaml``, ``console`` ...) is output or illustration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

RUN_LANGUAGES = ("bash", "python")
SKIP_MARK = "<!-- docs-test: skip -->"
_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,})(?P<info>[^`]*)$")
_TITLE = re.compile(r'title="(?P<title>[^"]+)"')


@dataclass(frozen=True)
class Block:
    """One fenced block: its language, code, where it starts, and what to do with it."""

    page: Path
    line: int
    language: str
    code: str
    title: str | None
    skipped: bool

    @property
    def runs(self) -> bool:
        """Whether the tutorials test executes (or, with a title, writes) this block."""
        return not self.skipped and (self.title is not None or self.language in RUN_LANGUAGES)

    def where(self) -> str:
        """``page:line`` of the opening fence, for failure messages."""
        return f"{self.page.name}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """Every fenced block of ``page``, in order (indented fences in lists included)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, info = len(m["indent"]), m["fence"], m["info"].strip()
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and lines[i].strip() != fence:
            body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
            i += 1
        if i >= len(lines):
            raise ValueError(f"{page.name}:{start + 1}: code block never closed")
        i += 1
        language = info.split()[0].lstrip("{.") if info else ""
        title = _TITLE.search(info)
        previous = next((x.strip() for x in reversed(lines[:start]) if x.strip()), "")
        found.append(Block(page, start + 1, language, "\n".join(body) + "\n",
                           title["title"] if title else None, previous == SKIP_MARK))
    return found
