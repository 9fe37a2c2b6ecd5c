"""Finding where a JSON value ends, without parsing it.

Two tools, one grammar. ``VALUE`` is a regular expression for one whole value (an object or
array nested up to ``NESTING`` deep, a string, or a bare literal such as a number) that runs at
the regex engine's speed: every quantifier is possessive, so a value that does not match fails
in one pass instead of backtracking. It does not check values (``{"a" 1}`` matches, ``{]`` too);
the JSON parser that reads them later does. A string must not hold a raw line break (JSON does
not allow one); such a value, a deeper one, or one cut off by the end of a block does not match.

``Scanner`` finds the same end token by token, for those cases: it goes deeper than any limit,
marks a value holding a raw line break in a string as ``broken``, and carries its state from one
block to the next, so a value longer than a block is scanned once.
"""

from __future__ import annotations

import re

# JSON's whitespace (not Python's \s, which also takes \f and \v).
WS = rb"[ \t\n\r]*+"

_STRING = rb'"[^"\\\n\r]*+(?:\\[^\n\r][^"\\\n\r]*+)*+"'
# Inside a container, strings and what lies between them (keys' colons, commas, numbers,
# true/false/null, whitespace) up to the next bracket. A plain sequence, no alternation: the
# regex engine runs it about 10% faster.
_FLAT = b"(?:" + rb'[^"\[\]{}]*+' + _STRING + b")*+" + rb'[^"\[\]{}]*+'
# A value that is neither container nor string: a number, true, false, null (or garbage, which
# the parser reports).
_LITERAL = rb'[^ \t\n\r,\[\]{}"]++'

# Containers nested deeper than this are found by ``Scanner`` instead (the pattern grows by
# about 150 bytes per level).
NESTING = 24


def _container(levels: int) -> bytes:
    pattern = rb"[\[{]" + _FLAT + rb"[\]}]"
    for _ in range(levels - 1):
        pattern = rb"[\[{]" + _FLAT + b"(?:" + pattern + _FLAT + rb")*+[\]}]"
    return pattern


VALUE = b"(?:" + _container(NESTING) + b"|" + _STRING + b"|" + _LITERAL + b")"

_STRUCTURE = re.compile(rb'["\[\]{}]')
_IN_STRING = re.compile(rb'["\\\n\r]')
_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_OPENERS = (ord("["), ord("{"))
_BREAKS = (ord("\n"), ord("\r"))


class Scanner:
    """Finds the end of one value that starts with ``[``, ``{`` or ``"``, over blocks in turn.

    Brackets are counted alike (``[`` and ``{`` open, ``]`` and ``}`` close): a value whose
    brackets do not pair up is invalid, and the parser says so when it reads it.
    """

    __slots__ = ("broken", "depth", "escaped", "in_string")

    def __init__(self) -> None:
        self.depth = 0
        self.in_string = False
        self.escaped = False
        # A raw line break inside a string: invalid JSON, and it would split the value's line.
        self.broken = False

    def feed(self, data: bytes, pos: int = 0, end: int | None = None) -> int:
        """Scan ``data[pos:end]``; the index just after the value, or -1 when it goes on."""
        end = len(data) if end is None else end
        while pos < end:
            if self.escaped:
                self.broken |= data[pos] in _BREAKS
                self.escaped = False
                pos += 1
                continue
            if self.in_string:
                found = _IN_STRING.search(data, pos, end)
                if found is None:
                    return -1
                pos = found.end()
                char = data[pos - 1]
                if char == _QUOTE:
                    self.in_string = False
                    if self.depth == 0:
                        return pos
                elif char == _BACKSLASH:
                    self.escaped = True
                else:
                    self.broken = True
                continue
            found = _STRUCTURE.search(data, pos, end)
            if found is None:
                return -1
            pos = found.end()
            char = data[pos - 1]
            if char == _QUOTE:
                self.in_string = True
            elif char in _OPENERS:
                self.depth += 1
            else:
                self.depth -= 1
                if self.depth <= 0:
                    return pos
        return -1
