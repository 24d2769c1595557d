"""Secrets out of URLs before they are stored or printed: ``--base-url`` may carry ``user:pass@`` or ``?api_key=``.

The redacted form is for records and messages only; requests keep using the URL as given.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["redact_url", "redact_text", "SECRET_QUERY_KEYS"]

# Query parameters that carry credentials by convention (compared case-insensitively, '-' and '_' alike).
SECRET_QUERY_KEYS = frozenset({"api_key", "apikey", "key", "token", "access_token", "auth", "auth_token",
                               "password", "secret", "client_secret", "sig", "signature"})
_MASK = "***"
_URL = re.compile(r"""\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'"<>`]+""")


def _secret(name: str) -> bool:
    return name.lower().replace("-", "_") in SECRET_QUERY_KEYS


def redact_url(url: str | None) -> str | None:
    """``url`` without its userinfo (``user:pass@``) and with credential query values replaced by ``***``."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2]
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            if any(_secret(name) for name, _ in pairs):
                query = urlencode([(name, _MASK if _secret(name) else value) for name, value in pairs], safe="*")
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:  # not parseable as a URL: keep only what precedes any '@' host part and no query
        return url.split("?", 1)[0].rpartition("@")[2]


def redact_text(text: str | None) -> str | None:
    """``text`` with every URL in it redacted (error messages may quote the URL of a failed request)."""
    if not text or "://" not in text:
        return text
    return _URL.sub(lambda m: redact_url(m.group(0)) or "", text)
