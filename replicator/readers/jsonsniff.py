"""What a ``.json`` file holds, from its first bytes: one array, JSON lines, or objects that span
lines (one pretty-printed object, or several one after another).

After a UTF-8 byte order mark and whitespace, ``[`` opens an array. ``{`` starts JSON lines when
the first line holds that whole object and nothing else, and pretty-printed objects otherwise.
Anything else is not JSON this format can read rows from. At most two blocks are read (more
only while they hold nothing but whitespace): a first line longer than that is not taken for
JSON lines.
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
    """Read blocks from ``blocks`` until it is clear what the stream holds, and say what."""
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
        following = next(blocks, b"")
        if not following:
            return Sniffed("lines", head, at)  # a single line: an object on it is a JSON line
        head += following
        newline = head.find(b"\n", at)
        if newline < 0:
            # A first line longer than a block: split by brackets, which streams, instead of
            # holding the line to look at it whole.
            return Sniffed("objects", head, at)
    end = Scanner().feed(head, at, newline)
    whole = end >= 0 and _LINE_END.match(head, end, newline) is not None
    return Sniffed("lines" if whole else "objects", head, at)
