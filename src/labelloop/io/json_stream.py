"""JSON documents too large to load at once: the elements of a top-level array one at a
time, and the array written one element at a time.

Reading uses the standard library's decoder on a sliding buffer
(:meth:`json.JSONDecoder.raw_decode`), so memory holds one element plus the buffer, never
the file; no extra dependency (``ijson`` would do the same with a C parser). Writing
reproduces ``json.dumps(..., indent=1)`` byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import IO, Any

READ_CHUNK = 1 << 20


class JsonStreamError(ValueError):
    """The document is not valid JSON; ``line`` is where the problem starts (1-based)."""

    def __init__(self, msg: str, line: int) -> None:
        super().__init__(f"{msg} (line {line})")
        self.msg = msg
        self.line = line


def iter_array(fh: IO[str], *, chunk: int = READ_CHUNK) -> Iterator[Any]:
    """The elements of a top-level JSON array, one by one; a top-level object (or any
    other value) is the one element (read whole).

    Raises
    ------
    JsonStreamError
        Where the document stops being valid JSON, with its line.
    """
    decoder = json.JSONDecoder()
    buf = fh.read(chunk)
    pos = 0
    lines = 0  # newlines in the text dropped from the buffer
    eof = len(buf) < chunk

    def fail(msg: str, at: int) -> JsonStreamError:
        return JsonStreamError(msg, lines + buf.count("\n", 0, at) + 1)

    def skip(at: int) -> int:
        nonlocal buf, pos, lines, eof
        while True:
            while at < len(buf) and buf[at] in " \t\r\n":
                at += 1
            if at < len(buf) or eof:
                return at
            lines += buf.count("\n", 0, at)
            buf, at = fh.read(chunk), 0
            eof = len(buf) < chunk

    pos = skip(0)
    if pos >= len(buf):
        raise fail("Expecting value", pos)
    if buf[pos] != "[":
        rest = buf[pos:] + fh.read()
        try:
            yield json.loads(rest)
        except json.JSONDecodeError as exc:
            raise JsonStreamError(exc.msg, lines + buf.count("\n", 0, pos) + exc.lineno
                                  ) from None
        return
    pos = skip(pos + 1)
    first = True
    while True:
        if pos >= len(buf):
            raise fail("Expecting ',' or ']'", pos)
        if buf[pos] == "]" and first:
            break
        if not first:
            if buf[pos] == "]":
                break
            if buf[pos] != ",":
                raise fail("Expecting ',' delimiter", pos)
            pos = skip(pos + 1)
        while True:
            try:
                obj, end = decoder.raw_decode(buf, pos)
                if eof or not _may_go_on(obj, buf, end):
                    break
            except json.JSONDecodeError as exc:
                if eof:
                    raise fail(exc.msg, exc.pos) from None
            lines += buf.count("\n", 0, pos)
            size = max(chunk, len(buf))  # an element longer than the buffer doubles it
            more = fh.read(size)
            eof = len(more) < size
            buf, pos = buf[pos:] + more, 0
        yield obj
        first = False
        pos = skip(end)
    if skip(pos + 1) < len(buf):
        raise fail("Extra data", skip(pos + 1))


def _may_go_on(obj: Any, buf: str, end: int) -> bool:
    """Whether a value decoded up to the buffer's end (or a number cut before its
    fraction or exponent) may continue in the next chunk."""
    if end >= len(buf):
        return True
    return isinstance(obj, int | float) and buf[end] in ".eE+-0123456789"


def dumps_at(obj: Any, level: int, *, ensure_ascii: bool = True) -> str:
    """``json.dumps(obj, indent=1)`` as it reads nested ``level`` deep (first line not
    indented)."""
    return json.dumps(obj, indent=1, ensure_ascii=ensure_ascii).replace(
        "\n", "\n" + " " * level)


def write_array(fh: IO[str], objs: Iterable[Any], level: int = 0, *,
                ensure_ascii: bool = True) -> int:
    """Write ``objs`` as a JSON array nested ``level`` deep, formatted as
    ``json.dumps(..., indent=1)`` would; returns the number of elements."""
    n = 0
    pad = " " * (level + 1)
    for obj in objs:
        fh.write("[\n" if n == 0 else ",\n")
        fh.write(pad + dumps_at(obj, level + 1, ensure_ascii=ensure_ascii))
        n += 1
    fh.write("[]" if n == 0 else "\n" + " " * level + "]")
    return n
