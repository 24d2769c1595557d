"""Where escgraph keeps user data, and process-wide defaults."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["data_dir", "MAX_MESSAGE_CHARS"]

# A seeker message longer than this is refused with a clear error rather than fed to a 2k-context model.
MAX_MESSAGE_CHARS = 4000


def data_dir() -> Path:
    """``$ESCGRAPH_HOME``, else ``$XDG_DATA_HOME/escgraph``, else ``~/.local/share/escgraph``."""
    if home := os.environ.get("ESCGRAPH_HOME"):
        return Path(home).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base).expanduser() / "escgraph"
