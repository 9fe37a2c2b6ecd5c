"""Where the state file lives by default, and the default name of a pipeline in it."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from replicator.storage import protocol_of

STATE_ENV = "REPLICATOR_STATE"

# "user:pass@" or "user@" right after "scheme://". An AWS secret may hold "/", so a
# "key:secret@" may span slashes; a ":port/" is not a secret.
_USERINFO = re.compile(r"^(?:[^@/:]*:(?!\d+(?:/|$))[^@]*|[^@/]*)@")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SLUG_PARTS = 2
_SLUG_MAX = 40


def default_state_path() -> Path:
    """``$REPLICATOR_STATE``, else ``$XDG_STATE_HOME/replicator/state.db``, else
    ``~/.local/state/replicator/state.db``. Independent of source and destination, so that
    inspection commands find it without knowing either."""
    explicit = os.environ.get(STATE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_STATE_HOME")
    # The XDG spec says a relative value is invalid and must be ignored.
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "replicator" / "state.db"
    return Path.home() / ".local" / "state" / "replicator" / "state.db"


def default_pipeline_name(source_url: str, dest_url: str) -> str:
    """A readable, stable name for replicating ``source_url`` into ``dest_url``.

    The last path parts of both, then 8 hex digits of a hash of both whole URLs, e.g.
    ``logs-2024_to_lake-raw_1a2b3c4d``. Credentials (``user:pass@``) and query strings (signed
    URLs, SAS tokens) are dropped first: they never reach the name and rotating them does not
    change it. Local paths are made absolute, so the same relative path run from two folders
    names two pipelines.
    """
    source, dest = canonical_url(source_url), canonical_url(dest_url)
    digest = hashlib.sha256(f"{source}\n{dest}".encode()).hexdigest()[:8]
    return f"{_slug(source)}_to_{_slug(dest)}_{digest}"


def canonical_url(url: str) -> str:
    """``url`` without credentials, query, fragment or trailing slash; local paths absolute."""
    if protocol_of(url) == "file":
        path = url.removeprefix("file://")
        return "file://" + os.path.abspath(os.path.expanduser(path))
    scheme, rest = url.split("://", 1) if "://" in url else ("", url)
    rest = _USERINFO.sub("", rest)
    parts = urlsplit(f"{scheme}://{rest}")
    return f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")


def _slug(url: str) -> str:
    names = [name for name in url.split("://", 1)[-1].split("/") if name]
    words = [_UNSAFE.sub("-", name).strip("-.") for name in names[-_SLUG_PARTS:]]
    slug = "-".join(word for word in words if word)[-_SLUG_MAX:].strip("-.")
    return slug or "root"
