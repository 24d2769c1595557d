"""Prompts are versioned data files (YAML package data), not Python strings.

A prompt file holds ``name``, ``version``, ``system`` and optionally ``user`` templates using ``{placeholders}``.
Users override any prompt by passing their own :class:`PromptTemplate` (or a path) to an agent.
"""

from __future__ import annotations

import string
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

__all__ = ["PromptTemplate", "PromptError", "load_prompt", "load_data"]

_DEFAULT_PACKAGE = "escgraph.agents.prompts"


class PromptError(ValueError):
    """A prompt file is missing, malformed, or a template is rendered without a placeholder's value."""


class PromptTemplate(BaseModel):
    name: str
    version: str
    description: str = ""
    system: str
    user: str = ""

    def placeholders(self, part: str = "system") -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(getattr(self, part)) if f}

    def render(self, part: str = "system", **values: object) -> str:
        template = getattr(self, part)
        missing = self.placeholders(part) - values.keys()
        if missing:
            raise PromptError(f"prompt {self.name!r} v{self.version} ({part}) needs values for: {sorted(missing)}")
        return template.format(**values)


def _read_yaml(source: str | Path, package: str) -> tuple[dict, str]:
    if isinstance(source, Path) or "/" in str(source) or str(source).endswith((".yaml", ".yml")):
        path = Path(source)
        if not path.is_file():
            raise PromptError(f"prompt file not found: {path}")
        return yaml.safe_load(path.read_text(encoding="utf-8")), str(path)
    ref = resources.files(package).joinpath(f"{source}.yaml")
    if not ref.is_file():
        raise PromptError(f"no prompt named {source!r} in {package}")
    return yaml.safe_load(ref.read_text(encoding="utf-8")), f"{package}/{source}.yaml"


@lru_cache(maxsize=64)
def load_prompt(source: str | Path, package: str = _DEFAULT_PACKAGE) -> PromptTemplate:
    """Load a prompt by name from the package's prompt folder, or from a YAML file path."""
    data, where = _read_yaml(source, package)
    try:
        return PromptTemplate.model_validate(data)
    except ValidationError as exc:
        raise PromptError(f"malformed prompt file {where}: {exc.errors()[0]['msg']}") from exc


@lru_cache(maxsize=64)
def load_data(name: str, package: str = _DEFAULT_PACKAGE) -> dict:
    """Load a YAML data file (e.g. strategy definitions) shipped beside the prompts."""
    data, _ = _read_yaml(name, package)
    return data
