"""Where escgraph keeps user data, and process-wide defaults."""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["data_dir", "split_pin", "MAX_MESSAGE_CHARS"]

# A seeker message longer than this is refused with a clear error rather than fed to a 2k-context model.
MAX_MESSAGE_CHARS = 4000


def data_dir() -> Path:
    """``$ESCGRAPH_HOME``, else ``$XDG_DATA_HOME/escgraph``, else ``~/.local/share/escgraph``."""
    if home := os.environ.get("ESCGRAPH_HOME"):
        return Path(home).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base).expanduser() / "escgraph"


def split_pin(spec: str) -> tuple[str, str]:
    """``"path@<16 hex>"`` -> (path, hash); anything else -> (spec, ""): an "@" may also be part of a file name."""
    path, _, expected = spec.rpartition("@")
    return (path, expected) if re.fullmatch(r"[0-9a-f]{16}", expected) else (spec, "")
