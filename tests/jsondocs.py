"""JSON documents for tests: realistic objects, and big arrays of them written fast.

The objects nest objects and arrays, and their strings hold what a naive splitter trips on:
brackets, braces, commas, quotes, backslashes, escapes and non-ASCII text. Every object has the
same keys with the same types, so Arrow reads them into one schema and each row compares equal to
what Python's ``json`` reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_TEMPLATES = 1000


def element(i: int) -> dict[str, Any]:
    """The ``i``-th object (the same ``i`` gives the same object)."""
    return {
        "id": i,
        "user": {
            "name": f'user {i} said "hi", {{ok}} [x] \\o/',
            "tags": ["a,b", "c}d", "e]f\\g", "über ñ 中文", '"quoted"'],
            "score": (i % 997) / 7,
        },
        "items": [
            {"sku": f"S{(i + k) % 97}", "qty": (i + k) % 7, "price": ((i * 31 + k) % 10000) / 100}
            for k in range(1 + i % 3)
        ],
        "note": 'line1\nline2\t"tab" \\ {brace} [bracket], comma \u0001 end\\',
        "active": i % 2 == 0,
        "maybe": None if i % 3 == 2 else "set",
        "meta": {"depth": {"deeper": {"deepest": [[i, i + 1], [i + 2]]}}, "k": "v}"},
    }


def dumps(value: Any, indent: int | str | None = 2) -> bytes:
    """``value`` as JSON text, UTF-8 (non-ASCII kept as is)."""
    return json.dumps(value, indent=indent, ensure_ascii=False).encode()


def write_array(path: Path, size: int, indent: int | None = 2) -> int:
    """Write a JSON array of about ``size`` bytes to ``path``; the number of objects in it.

    Object ``n`` is ``element(n % 1000)``: a thousand objects are serialized once and repeated,
    so 200 MB takes about a second.
    """
    texts = [dumps(element(i), indent) for i in range(_TEMPLATES)]
    if indent is not None:
        texts = [b"  " + text.replace(b"\n", b"\n  ") for text in texts]
    separator = b",\n" if indent is not None else b","
    count = written = 0
    with path.open("wb") as f:
        f.write(b"[\n" if indent is not None else b"[")
        pending: list[bytes] = []
        while written < size:
            if count:
                pending.append(separator)
            text = texts[count % _TEMPLATES]
            pending.append(text)
            written += len(text) + len(separator)
            count += 1
            if len(pending) >= 2 * _TEMPLATES:
                f.write(b"".join(pending))
                pending = []
        f.write(b"".join(pending))
        f.write(b"\n]\n" if indent is not None else b"]")
    return count
