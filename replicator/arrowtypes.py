"""Questions about Arrow types that several parts ask."""

from __future__ import annotations

import pyarrow as pa


def is_text_or_binary(type_: pa.DataType) -> bool:
    """Whether values of ``type_`` are strings or bytes (any offset width, views included)."""
    return bool(
        pa.types.is_string(type_)
        or pa.types.is_large_string(type_)
        or pa.types.is_string_view(type_)
        or pa.types.is_binary(type_)
        or pa.types.is_large_binary(type_)
        or pa.types.is_binary_view(type_)
    )
