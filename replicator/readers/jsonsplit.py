"""Turning one JSON array, or a run of JSON values, into blocks of JSON lines.

Each top-level value (an element of the array, or a value of the run: pretty-printed objects one
after another) becomes one line, so that the JSON-lines parser can read the blocks. A raw line
break can never occur inside a valid JSON string, so replacing every line break inside a value
with a space (``bytes.translate``, at C speed) keeps the value as it was and puts it on one line;
the array's own brackets and commas are dropped. Values that are not objects are passed on: the
parser reports them as bad rows, like JSON lines that are not objects.

Values are found by one regular expression per value (``jsonscan.VALUE``), so Python runs per
value, not per byte. A value the expression cannot take (cut off by the end of a block, nested
deeper than it goes, holding a raw line break in a string) is scanned by ``jsonscan.Scanner``,
which carries it over the blocks it spans. Memory is the block size plus the longest value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain

from replicator.readers.jsonscan import VALUE, WS, Scanner

_FLAT = bytes.maketrans(b"\n\r", b"  ")
# A value and what follows it; group 2 matches when another value may follow at once.
_ARRAY_ITEM = re.compile(WS + b"(" + VALUE + b")" + WS + b"(,)?")
_RUN_ITEM = re.compile(WS + b"(" + VALUE + b")()")
_SPACE = re.compile(WS)
_STARTS_SCAN = frozenset(b'[{"')

_VALUE, _AFTER, _CLOSED = 0, 1, 2  # expecting a value; a "," or "]"; nothing but whitespace


@dataclass(frozen=True, slots=True)
class Lines:
    """The values found in one block, one per line, and where each starts in the stream.

    ``broken`` holds the values set aside for a raw line break in a string, with their starts.
    ``line_of`` gives the line number of a value's start (counted only when asked, for the few
    values that turn out to be bad rows).
    """

    data: bytes
    starts: list[int]
    broken: list[tuple[int, bytes]]
    text: bytes = b""  # the block as read (with the carried start of its first value)
    text_start: int = 0  # its offset in the stream
    text_line: int = 1  # the line number at its start
    carried_line: int = 1  # the line of a value that started before it (there is at most one)

    def line_of(self, start: int) -> int:
        """The 1-based line number of the byte at ``start``, one of this block's value starts."""
        if start < self.text_start:
            return self.carried_line
        return self.text_line + self.text.count(b"\n", 0, start - self.text_start)


class JsonSyntaxError(ValueError):
    """The stream is not one JSON array (or run of values): it says where, as a byte offset."""

    def __init__(self, message: str, byte: int) -> None:
        super().__init__(message)
        self.byte = byte


def split_values(blocks: Iterable[bytes], *, array: bool, offset: int = 0) -> Iterator[Lines]:
    """The values in ``blocks`` as blocks of lines, one ``Lines`` per input block holding any.

    ``blocks`` is the stream from byte ``offset`` on: just after the ``[`` of an array, or at
    the first value of a run. Raises ``JsonSyntaxError`` after yielding the values before it.
    """
    splitter = _Splitter(array, offset)
    for block in chain((block for block in blocks if block), [b""]):
        lines = splitter.feed(block, eof=not block)
        if lines.starts or lines.broken:
            yield lines
        if splitter.error is not None:
            raise splitter.error


class _Splitter:
    def __init__(self, array: bool, offset: int) -> None:
        self.array = array
        self.item = (_ARRAY_ITEM if array else _RUN_ITEM).match
        self.opened = offset - 1  # where the array's "[" is
        self.state = _VALUE
        self.empty = True  # no value yet: an array may still close at once
        self.offset = offset  # where the next block starts in the stream
        self.line = 1  # the line number there
        self.carry = b""  # the start of a value or separator cut off by the end of a block
        self.scanner: Scanner | None = None  # a value longer than what was left of its block
        self.parts: list[bytes] = []  # ... and its bytes so far
        self.part_start = 0
        self.part_line = 1
        self.error: JsonSyntaxError | None = None

    def feed(self, block: bytes, *, eof: bool) -> Lines:
        lines: list[bytes] = []
        starts: list[int] = []
        broken: list[tuple[int, bytes]] = []
        pos = 0
        carried_line = self.part_line
        if self.scanner is not None:
            end = self.scanner.feed(block)
            if end < 0:
                self.offset += len(block)
                self.line += block.count(b"\n")
                if eof:
                    where = f"the file ends inside the value at byte {self.part_start}"
                    self._fail(where, self.offset)
                self.parts.append(block)
                return Lines(b"", starts, broken)
            value = b"".join([*self.parts, block[:end]])
            self._take(value, self.part_start, self.scanner.broken, lines, starts, broken)
            self.scanner, self.parts = None, []
            buf, base, line, pos = block, self.offset, self.line, end
            self.state = _AFTER if self.array else _VALUE
        else:
            buf = self.carry + block if self.carry else block
            base = self.offset - len(self.carry)
            line = self.line - self.carry.count(b"\n")
        self.offset += len(block)
        self.line += block.count(b"\n")
        pos = self._values(buf, base, pos, eof, lines, starts, broken)
        self.carry = buf[pos:] if self.scanner is None else b""
        if self.scanner is not None:  # a value that goes on in the next block started here
            self.part_line = line + buf.count(b"\n", 0, self.part_start - base)
        if eof:
            self._finish()
        if lines or broken:
            self.empty = False
        return Lines(b"\n".join(lines), starts, broken, buf, base, line, carried_line)

    def _values(
        self,
        buf: bytes,
        base: int,
        pos: int,
        eof: bool,
        lines: list[bytes],
        starts: list[int],
        broken: list[tuple[int, bytes]],
    ) -> int:
        """Take the values of ``buf`` from ``pos``; where the next block should go on from."""
        n = len(buf)
        flat = buf.translate(_FLAT)
        item = self.item
        while self.error is None:
            if self.state == _VALUE:
                found = None
                # The hot loop: one match per value.
                while True:
                    found = item(buf, pos)
                    if found is None or (found.end() == n and not (eof and self._whole(found))):
                        break  # the value, or what follows it, may go on in the next block
                    start, end = found.span(1)
                    lines.append(flat[start:end])
                    starts.append(base + start)
                    pos = found.end()
                    if found.lastindex != 2:
                        self.state = _AFTER
                        break
                if self.state != _VALUE:
                    continue
                pos = _skip_space(buf, pos)
                if pos == n or found is not None:
                    return pos
                if buf[pos] in _STARTS_SCAN:
                    pos = self._scan(buf, base, pos, eof, lines, starts, broken)
                    if self.scanner is not None:
                        return pos  # it goes on in the next block
                elif buf[pos] == ord("]") and self.array and self.empty and not lines:
                    self.state, pos = _CLOSED, pos + 1
                else:
                    self._fail(f"expected a value, found {_show(buf, pos)}", base + pos)
            elif self.state == _AFTER:
                pos = _skip_space(buf, pos)
                if pos == n:
                    return pos
                if buf[pos] == ord(","):
                    self.state, pos = _VALUE, pos + 1
                elif buf[pos] == ord("]"):
                    self.state, pos = _CLOSED, pos + 1
                else:
                    found_text = _show(buf, pos)
                    self._fail(f"expected ',' or ']' after a value, found {found_text}", base + pos)
            else:
                pos = _skip_space(buf, pos)
                if pos < n:
                    self._fail(f"found {_show(buf, pos)} after the end of the array", base + pos)
                return pos
        return pos

    def _scan(
        self,
        buf: bytes,
        base: int,
        pos: int,
        eof: bool,
        lines: list[bytes],
        starts: list[int],
        broken: list[tuple[int, bytes]],
    ) -> int:
        """Take the value at ``pos`` token by token, or start carrying it to the next block."""
        scanner = Scanner()
        end = scanner.feed(buf, pos)
        if end < 0:
            if eof:
                self._fail(f"the file ends inside the value at byte {base + pos}", base + len(buf))
            else:
                self.scanner, self.parts, self.part_start = scanner, [buf[pos:]], base + pos
            return len(buf)
        self._take(buf[pos:end], base + pos, scanner.broken, lines, starts, broken)
        self.state = _AFTER if self.array else _VALUE
        return end

    def _whole(self, found: re.Match[bytes]) -> bool:
        """Whether a value at the very end of the file is whole: a number there may be cut
        short when an array is not closed (the error then comes from ``_finish``)."""
        return not self.array or found[1][-1:] in (b"}", b"]", b'"')

    @staticmethod
    def _take(
        value: bytes,
        start: int,
        is_broken: bool,
        lines: list[bytes],
        starts: list[int],
        broken: list[tuple[int, bytes]],
    ) -> None:
        if is_broken:
            broken.append((start, value))
        else:
            lines.append(value.translate(_FLAT))
            starts.append(start)

    def _finish(self) -> None:
        if self.array and self.state != _CLOSED:
            self._fail(f"the file ends inside the array at byte {self.opened}", self.offset)

    def _fail(self, message: str, byte: int) -> None:
        if self.error is None:
            self.error = JsonSyntaxError(message, byte)


def _skip_space(buf: bytes, pos: int) -> int:
    return _SPACE.match(buf, pos).end()  # type: ignore[union-attr]  # it matches "" too


def _show(buf: bytes, pos: int) -> str:
    """A few bytes from ``pos``, to say what was found."""
    return repr(buf[pos : pos + 20].decode("utf-8", "replace"))
