"""The safety reply: a calm, warm message naming crisis resources for the seeker's locale.

Resources follow the *locale* (the country the deployment is configured for); the wording follows the language
of the message when a template exists for it, else the locale's language, else English. Locale lookup:
exact ``language-REGION`` -> the language's default locale -> ``international`` (findahelpline.com and the local
emergency number). Nothing here raises on odd input.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from dataclasses import dataclass
from importlib import resources as package_files
from pathlib import Path
from typing import Any

import yaml

from escgraph.types import SafetyVerdict

__all__ = ["CrisisResources", "Helpline", "ResourceBook", "load_resources", "resolve_locale", "safety_reply"]


@dataclass(frozen=True)
class Helpline:
    """One line of ``resources.yaml``: what the reply says, where the number is published, when it was checked."""

    line: str
    source: str | None = None  # the organisation's own site
    checked: dt.date | None = None  # last compared with the organisation's published number; None: not reviewed
    note: str = ""


@dataclass(frozen=True)
class CrisisResources:
    locale: str  # the key that matched, or "international"
    crisis: tuple[str, ...]
    emergency: str
    abuse: tuple[str, ...]
    helplines: tuple[Helpline, ...] = ()  # crisis and abuse lines with their source and checked date


class ResourceBook:
    """Crisis lines per locale plus the language -> default-locale map and the international fallback."""

    def __init__(self, data: dict[str, Any], source: str = "resources") -> None:
        if not isinstance(data, dict) or not isinstance(data.get("locales"), dict):
            raise ValueError(f"{source}: expected a mapping with 'locales' (locale -> crisis/emergency/abuse)")
        self.locales = {_norm_locale(k): self._entry(_norm_locale(k), v, source) for k, v in data["locales"].items()}
        self.languages = {str(k).lower(): _norm_locale(v) for k, v in (data.get("languages") or {}).items()}
        fallback = data.get("international") or {
            "crisis": ["Find a helpline in your country: https://findahelpline.com"],
            "emergency": "your local emergency number"}
        self.international = self._entry("international", fallback, source)

    @staticmethod
    def _entry(locale: str, value: Any, source: str) -> CrisisResources:
        if not isinstance(value, dict) or not value.get("emergency"):
            raise ValueError(f"{source}: locale {locale!r} needs at least an 'emergency' number")
        crisis = [_helpline(x, f"{source}: locale {locale!r}, crisis line {i + 1}")
                  for i, x in enumerate(value.get("crisis") or ())]
        abuse = [_helpline(x, f"{source}: locale {locale!r}, abuse line {i + 1}")
                 for i, x in enumerate(value.get("abuse") or ())]
        return CrisisResources(locale, tuple(h.line for h in crisis), str(value["emergency"]),
                               tuple(h.line for h in abuse), tuple(crisis + abuse))

    def lookup(self, locale: Any) -> CrisisResources:
        key = resolve_locale(locale, self)
        return self.locales.get(key, self.international) if key else self.international


def _helpline(value: Any, where: str) -> Helpline:
    """A crisis / abuse line: a plain string, or a mapping with ``line`` and optional source, checked, note."""
    if isinstance(value, str):
        return Helpline(value)
    if not isinstance(value, dict) or not isinstance(value.get("line"), str) or not value["line"].strip():
        raise ValueError(f"{where}: expected a string or a mapping with a non-empty 'line'")
    source = value.get("source")
    if source is not None and not (isinstance(source, str) and re.match(r"https?://\S+$", source)):
        raise ValueError(f"{where}: 'source' must be the organisation's web address (http(s)://...)")
    checked = value.get("checked")
    if isinstance(checked, str):
        try:
            checked = dt.date.fromisoformat(checked)
        except ValueError:
            raise ValueError(f"{where}: 'checked' must be a date (YYYY-MM-DD) or null") from None
    if checked is not None and not isinstance(checked, dt.date):
        raise ValueError(f"{where}: 'checked' must be a date (YYYY-MM-DD) or null")
    return Helpline(value["line"], source, checked, str(value.get("note") or ""))


def _norm_locale(value: Any) -> str:
    """``"en_gb.UTF-8"`` -> ``"en-GB"``; ``"EN"`` -> ``"en"``; anything unusable -> ``""``."""
    if not isinstance(value, str):
        return ""
    value = value.strip().split(".")[0].split("@")[0].replace("_", "-")
    match = re.fullmatch(r"([A-Za-z]{2,3})(?:-([A-Za-z]{4}))?(?:-([A-Za-z]{2}|\d{3}))?", value)
    if not match:
        return ""
    language, _script, region = match.groups()
    return f"{language.lower()}-{region.upper()}" if region else language.lower()


def resolve_locale(locale: Any, book: ResourceBook | None = None) -> str:
    """The resource key for ``locale``: exact match, else the language's default, else ``""`` (international)."""
    book = book or load_resources()
    key = _norm_locale(locale)
    if key in book.locales:
        return key
    language = key.split("-")[0] if key else ""
    return book.languages.get(language, "")


_cache: dict[str, Any] = {}
_cache_lock = threading.Lock()


def _packaged_yaml(name: str) -> Any:
    with _cache_lock:
        if name not in _cache:
            text = package_files.files("escgraph.agents.safety").joinpath(name).read_text(encoding="utf-8")
            _cache[name] = yaml.safe_load(text)
        return _cache[name]


def load_resources(path: str | Path | None = None) -> ResourceBook:
    """The packaged crisis resources, or your own YAML in the same shape (see ``resources.yaml``)."""
    if path is None:
        with _cache_lock:
            book = _cache.get("book")
        if book is None:
            book = ResourceBook(_packaged_yaml("resources.yaml"), "resources.yaml")
            with _cache_lock:
                _cache["book"] = book
        return book
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read crisis resources {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"crisis resources {path} is not valid YAML: {exc}") from None
    return ResourceBook(data, str(path))


def _template(language: str) -> dict[str, Any] | None:
    templates = _packaged_yaml("replies.yaml")
    found = templates.get(language)
    return found if isinstance(found, dict) else None


def safety_reply(verdict: SafetyVerdict | dict[str, Any] | None, locale: Any = "en", *,
                 resources: ResourceBook | None = None) -> str:
    """The calm safety reply for ``verdict`` (a :class:`SafetyVerdict` or its dict), naming local resources."""
    if isinstance(verdict, dict):
        category, language = verdict.get("category") or "none", verdict.get("language")
    elif verdict is not None:
        category, language = verdict.category, verdict.language
    else:
        category, language = "none", None
    book = resources or load_resources()
    found = book.lookup(locale)
    locale_language = _norm_locale(locale).split("-")[0] or "en"
    template = _template(language) if isinstance(language, str) else None
    template = template or _template(locale_language) or _template("en")

    crisis_lines = found.crisis + (() if found is book.international else book.international.crisis)
    fields = {
        "emergency": template.get("local_emergency", found.emergency) if found is book.international
        else found.emergency,
        "resources": "\n".join(f"- {line}" for line in crisis_lines),
        "abuse_resources": "\n".join(f"- {line}" for line in found.abuse),
    }
    openings = template.get("opening") or {}
    parts = [openings.get(category) or openings.get("default", "")]
    if category in ("abuse", "violence"):
        parts.append(template["emergency"])
        if found.abuse:
            parts.append(template["abuse"])
        parts.append(template["resources"])
    elif category == "acute_danger":
        parts.append(template["resources"])  # the opening already says to call emergency services
    else:
        parts.append(template["resources"])
        parts.append(template["emergency"])
    parts.append(template.get("closing", ""))
    return "\n\n".join(p.format(**fields) for p in parts if p).strip()
