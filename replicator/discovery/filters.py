"""Which keys a pipeline takes: include/exclude globs and a modification-time floor."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import cached_property

from fsspec.utils import glob_translate


@dataclass(frozen=True)
class KeyFilter:
    """Globs over keys (paths relative to the source root).

    A pattern without "/" matches the file name at any depth (``*.csv``); a pattern with "/"
    matches the whole key, with ``**`` spanning folders (``logs/**/*.json.gz``). No include
    pattern means every key; an exclude wins over an include.

    Keys with a file or folder name starting with ``.`` or ``_`` are left out, as Spark,
    DuckDB and pyarrow datasets leave them out (``_tmp/``, ``.staging``, ``_SUCCESS``), unless
    an include pattern that itself starts a name with ``.`` or ``_`` matches them
    (``_staging/**``, ``.*.csv``).
    """

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    modified_after: float | None = None
    skip_empty: bool = True

    @cached_property
    def _include(self) -> list[tuple[bool, re.Pattern[str]]]:
        return [_compile(p) for p in self.include]

    @cached_property
    def _exclude(self) -> list[tuple[bool, re.Pattern[str]]]:
        return [_compile(p) for p in self.exclude]

    @cached_property
    def _include_hidden(self) -> list[tuple[bool, re.Pattern[str]]]:
        return [_compile(p) for p in self.include if _HIDDEN_NAME.search(p.lstrip("/"))]

    def hidden(self, key: str) -> bool:
        """Whether ``key`` is left out for a name starting with ``.`` or ``_``."""
        if not _HIDDEN_NAME.search(key):
            return False
        return not any(_match(p, key) for p in self._include_hidden)

    def accepts_key(self, key: str, *, named: bool = False) -> bool:
        """Whether ``key`` is taken; ``named``: the source URL names this very file, which
        is taken whatever its name."""
        if not named and self.hidden(key):
            return False
        if self.include and not any(_match(p, key) for p in self._include):
            return False
        return not any(_match(p, key) for p in self._exclude)

    def describe(self) -> str:
        """The filters in force, as options: for messages about what they left out."""
        parts = [f"--include {p!r}" for p in self.include]
        parts += [f"--exclude {p!r}" for p in self.exclude]
        if self.modified_after is not None:
            stamp = dt.datetime.fromtimestamp(self.modified_after, dt.UTC).isoformat()
            parts.append(f"--modified-after {stamp.replace('+00:00', 'Z')}")
        return " ".join(parts) or "no --include, --exclude or --modified-after"

    def accepts(self, key: str, size: int, mtime: float | None, *, named: bool = False) -> bool:
        if self.skip_empty and size == 0:
            return False
        if self.modified_after is not None and mtime is not None and mtime <= self.modified_after:
            return False
        return self.accepts_key(key, named=named)


# A file or folder name that starts with "." or "_", anywhere in a key or pattern.
_HIDDEN_NAME = re.compile(r"(?:^|/)[._]")


def _compile(pattern: str) -> tuple[bool, re.Pattern[str]]:
    pattern = pattern.lstrip("/")
    return "/" in pattern, re.compile(glob_translate(pattern))


def _match(compiled: tuple[bool, re.Pattern[str]], key: str) -> bool:
    whole_key, regex = compiled
    target = key if whole_key else key.rsplit("/", 1)[-1]
    return regex.match(target) is not None


def too_new(mtime: float | None, now: float, min_age: float) -> bool:
    """Whether a file modified at ``mtime`` may still be being written: less than ``min_age``
    seconds ago. A time further in the future than that is a clock's error, not a write in
    progress: such a file is taken (it would otherwise wait for ever)."""
    if min_age <= 0 or mtime is None:
        return False
    return now - min_age < mtime <= now + min_age
