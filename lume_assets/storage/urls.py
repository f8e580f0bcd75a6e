"""Database URLs and their passwords: mask them for display, add an env-supplied password.

A password reaches lume_assets either inline in a URL (``postgresql://user:PW@host/db``,
``mongodb://user:PW@host/db``) or, preferably, on its own through an environment variable
(``LUME_MONGO_PASSWORD``, ``LUME_POSTGRES_PASSWORD``, ``LUME_REGISTRY_PASSWORD``). Either way it
is only ever shown as ``***``: `mask_url` is what every display (CLI output, Dagit config,
metadata, logs, errors) uses, and `with_password` puts an env-supplied password into the URL
used to connect, never into one that is shown.
"""

from __future__ import annotations

import re
from urllib.parse import quote

MASK = "***"
# scheme://user:password@ — greedy to the last "@" so a password holding an unencoded "@" is
# masked whole (over-masking a query string is harmless; leaking half a password is not).
_CREDENTIALS = re.compile(r"^(?P<head>[A-Za-z][\w+.-]*://[^:/@?#]*):(?P<password>.*)@")


def url_password(url: str) -> str | None:
    """Return the password written inline in `url` (as written), or None."""
    found = _CREDENTIALS.match(url or "")
    return found.group("password") if found and found.group("password") else None


def mask_url(url: str | None) -> str:
    """Return `url` with any inline password replaced by ``***`` (for display only)."""
    if not url:
        return url or ""
    return _CREDENTIALS.sub(lambda m: f"{m.group('head')}:{MASK}@", url, count=1)


def with_password(url: str, password: str | None) -> str:
    """Return `url` with `password` inserted after its user, unless it has one already.

    A URL without a user (``sqlite:///...``, ``postgresql://host/db``) is returned unchanged.
    """
    if not password or url_password(url) is not None:
        return url
    found = re.match(r"^(?P<head>[A-Za-z][\w+.-]*://)(?P<user>[^:/@?#]+)@", url)
    if not found:
        return url
    secret = quote(password, safe="")
    return f"{found.group('head')}{found.group('user')}:{secret}@{url[found.end() :]}"


def scrub(text: str, *secrets: str | None) -> str:
    """Return `text` with URL passwords masked and each of `secrets` replaced by ``***``."""
    text = re.sub(r"(://[^:/@\s?#]*):[^@\s]*@", rf"\1:{MASK}@", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


__all__ = ["MASK", "mask_url", "scrub", "url_password", "with_password"]
