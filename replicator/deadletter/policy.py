"""The ``--on-bad-rows`` choices and where dead letters go by default."""

from __future__ import annotations

from typing import Literal, get_args

BadRowPolicy = Literal["fail", "skip", "dead-letter"]
BAD_ROW_POLICIES: tuple[BadRowPolicy, ...] = get_args(BadRowPolicy)

# Under the destination unless --dead-letter says otherwise. The leading underscore keeps it out
# of Spark's and pyarrow's dataset discovery of the destination.
DEFAULT_FOLDER = "_dead_letter"


def default_dead_letter_url(dest: str) -> str:
    """``<dest>/_dead_letter``."""
    return f"{dest.rstrip('/')}/{DEFAULT_FOLDER}"
