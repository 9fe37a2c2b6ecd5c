"""What a ``.json`` file holds, from its first bytes: one array, JSON lines, or objects that span
lines (one pretty-printed object, or several one after another).

After a UTF-8 byte order mark and whitespace, ``[`` opens an array. ``{`` starts JSON lines when
the first line holds that whole object and nothing else, and pretty-printed objects otherwise.
Anything else is not JSON this format can read rows from. Only the first line is read (for an
array, only up to its ``[``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Literal, NamedTuple

from replicator.readers.jsonscan import WS, Scanner

BOM = b"\xef\xbb\xbf"
_SPACE = re.compile(WS)
_LINE_END = re.compile(rb"[ \t\r]*+$")

Kind = Literal["empty", "array", "objects", "lines", "other"]


class Sniffed(NamedTuple):
    """What the stream holds; ``head``, the bytes read to find out; ``at``, where its content
    starts in them (just after the ``[`` of an array, else at the first byte that is not
    whitespace)."""

    kind: Kind
    head: bytes
    at: int


def sniff(blocks: Iterator[bytes]) -> Sniffed:
    """Read blocks from ``blocks`` until it is clear what the stream holds (at most its first
    line), and say what that is."""
    head = b""
    for block in blocks:
        head += block  # only while the stream is whitespace so far: once, nearly always
        if len(head) < len(BOM) and BOM.startswith(head):
            continue
        at = _SPACE.match(head, len(BOM) if head.startswith(BOM) else 0).end()  # type: ignore[union-attr]
        if at < len(head):
            break
    else:
        return Sniffed("empty", head, len(head))
    if head[at] == ord("["):
        return Sniffed("array", head, at + 1)
    if head[at] != ord("{"):
        return Sniffed("other", head, at)
    newline = head.find(b"\n", at)
    if newline < 0:
        head, newline = _to_newline(head, blocks)
        if newline < 0:
            return Sniffed("lines", head, at)  # a single line: an object on it is a JSON line
    end = Scanner().feed(head, at, newline)
    whole = end >= 0 and _LINE_END.match(head, end, newline) is not None
    return Sniffed("lines" if whole else "objects", head, at)


def _to_newline(head: bytes, blocks: Iterator[bytes]) -> tuple[bytes, int]:
    """``head`` and the blocks after it up to one holding a newline, joined once (a first line
    longer than a block costs no repeated copying), and the newline's offset (-1: none)."""
    parts = [head]
    size = len(head)
    for block in blocks:
        parts.append(block)
        found = block.find(b"\n")
        if found >= 0:
            return b"".join(parts), size + found
        size += len(block)
    return b"".join(parts), -1
