"""Loaded llama.cpp models, shared process-wide, each with the lock that serialises calls into it.

A ``llama_cpp.Llama`` owns one llama.cpp context, and contexts are not thread-safe. Every ChatLlamaCpp of the
same file and context size therefore shares one :class:`LoadedModel` (loaded once) and takes its lock around
every call into llama.cpp.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

__all__ = ["LoadedModel", "load_model", "cpu_has_amx"]

# Per-message template overhead used when a GGUF carries no chat template to render.
_FALLBACK_TOKENS_PER_MESSAGE = 8


class LoadedModel:
    """One ``Llama`` in memory, its call lock, and exact prompt-token counting through its chat template."""

    def __init__(self, llama: Any, path: Path) -> None:
        self.llama = llama
        self.path = path
        self.name = path.name.removesuffix(".gguf")
        self.n_ctx: int = llama.n_ctx()
        self.lock = threading.Lock()
        self._formatter = _chat_formatter(llama)

    def __deepcopy__(self, memo: dict) -> "LoadedModel":
        return self  # a model copy must share the weights and the lock, never duplicate them

    def count_text_tokens(self, text: str) -> int:
        # Tokenising reads only the vocabulary, not the context, so it needs no lock.
        return len(self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)) if text else 0

    def count_prompt_tokens(self, chat: list[dict[str, str]]) -> int:
        """Tokens the prompt for ``chat`` will take, rendered the way llama-cpp-python renders it."""
        if self._formatter is None:
            return sum(self.count_text_tokens(m["content"]) + _FALLBACK_TOKENS_PER_MESSAGE for m in chat)
        rendered = self._formatter(messages=chat)
        return len(
            self.llama.tokenize(
                rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True
            )
        )

    def truncate_tokens(self, text: str, keep: int) -> str:
        """The last ``keep`` tokens of ``text`` (the end of a message is usually what it asks)."""
        tokens = self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        kept = tokens[-keep:] if keep > 0 else []
        return self.llama.detokenize(kept).decode("utf-8", errors="ignore")


_loaded: dict[tuple[str, int], LoadedModel] = {}
_loading = threading.Lock()


def load_model(
    path: str | os.PathLike[str],
    *,
    n_ctx: int,
    n_threads: int,
    n_batch: int,
    verbose: bool,
    extra_buffer_types: bool | None,
) -> LoadedModel:
    """The shared model for ``(path, n_ctx)``, loading it on first use. The first loader's threads win."""
    resolved = Path(path).expanduser().resolve()
    key = (str(resolved), n_ctx)
    with _loading:
        model = _loaded.get(key)
        if model is None:
            from llama_cpp import Llama  # imported late: importing llama_cpp loads native libraries

            use_extra = (not cpu_has_amx()) if extra_buffer_types is None else extra_buffer_types
            with _extra_buffer_types(use_extra):
                llama = Llama(
                    model_path=str(resolved),
                    n_ctx=n_ctx,
                    n_threads=n_threads,
                    n_threads_batch=n_threads,
                    n_batch=n_batch,
                    verbose=verbose,
                )
            model = _loaded[key] = LoadedModel(llama, resolved)
        return model


@atexit.register
def _close_all() -> None:
    """Free the loaded models while the interpreter is still whole: left to ``Llama.__del__`` during shutdown,
    they are freed after llama_cpp's own module is torn down, which prints a ``TypeError`` traceback at exit."""
    with _loading:
        for model in _loaded.values():
            with contextlib.suppress(Exception):
                model.llama.close()
        _loaded.clear()


def cpu_has_amx() -> bool:
    """Whether the CPU advertises Intel AMX.

    ggml's AMX matrix kernels (an "extra buffer type") crashed with a segmentation fault on the first decode of
    SmolLM2 Q4_1 on such a machine (a virtual machine whose CPU reports amx_int8). llama.cpp has no switch for
    AMX alone, so on these CPUs we load models without extra buffer types; for this model they bring nothing
    else (weight repacking does not apply to Q4_1).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="ignore") as cpuinfo:
            return any(line.startswith("flags") and " amx_int8" in line for line in cpuinfo)
    except OSError:
        return False


@contextlib.contextmanager
def _extra_buffer_types(enabled: bool) -> Iterator[None]:
    """Load with llama.cpp's ``use_extra_bufts`` set; ``Llama()`` exposes no argument for it."""
    import llama_cpp.llama_cpp as native

    if enabled:
        yield
        return
    original = native.llama_model_default_params

    def default_params_without_extra_buffers() -> Any:
        params = original()
        params.use_extra_bufts = False
        return params

    native.llama_model_default_params = default_params_without_extra_buffers
    try:
        yield
    finally:
        native.llama_model_default_params = original


def _chat_formatter(llama: Any) -> Any:
    """A renderer of the GGUF's own chat template, matching what create_chat_completion sends, or None."""
    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        return None
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    def token_text(token_id: int) -> str:
        return llama._model.token_get_text(token_id) if token_id != -1 else ""

    return Jinja2ChatFormatter(
        template=template,
        eos_token=token_text(llama.token_eos()),
        bos_token=token_text(llama.token_bos()),
        stop_token_ids=[llama.token_eos()],
    )
