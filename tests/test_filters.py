from __future__ import annotations

import pytest

from replicator.discovery.filters import KeyFilter


@pytest.mark.parametrize(
    ("include", "exclude", "key", "expected"),
    [
        ((), (), "a/b/c.csv", True),
        (("*.csv",), (), "a/b/c.csv", True),
        (("*.csv",), (), "a/b/c.json", False),
        (("a/*.csv",), (), "a/c.csv", True),
        (("a/*.csv",), (), "a/b/c.csv", False),
        (("a/**/*.csv",), (), "a/b/d/c.csv", True),
        (("**/*.csv",), (), "top.csv", True),
        (("*.csv", "*.jsonl.gz"), (), "x/y.jsonl.gz", True),
        ((), ("_tmp/**",), "_tmp/x.csv", False),
        (("*.csv",), ("b/*",), "b/c.csv", False),
        ((), ("*.bak",), "dir with space/ünï.bak", False),
        (("ünï*",), (), "dir with space/ünïcode.csv", True),
    ],
)
def test_globs(
    include: tuple[str, ...], exclude: tuple[str, ...], key: str, expected: bool
) -> None:
    assert KeyFilter(include=include, exclude=exclude).accepts_key(key) is expected


def test_empty_files_and_modified_after() -> None:
    f = KeyFilter(modified_after=100.0)
    assert not f.accepts("a.csv", 0, 200.0)
    assert not f.accepts("a.csv", 10, 100.0)
    assert f.accepts("a.csv", 10, 100.5)
    assert KeyFilter(skip_empty=False).accepts("a.csv", 0, None)
