"""The one password masker: every URL, log record, error line and ``--show-config`` goes through here.

* :func:`mask` hides the password of every ``scheme://user:password@`` in a text.
* :func:`add_secret` makes a secret known (an AMQP password once parsed, Globus tokens);
  :func:`scrub` then masks it wherever it appears, as well as URL passwords.
* :func:`redact` is :func:`scrub` that first learns the secrets it is given.

The logging filter (:mod:`panorama_tui.core.logsetup`), the AMQP URL module, the
submit-dir reader and the collectors all import these; none masks on its own.
Standard library only: panorama-monitor imports it at every job's start.
"""

from __future__ import annotations

import re
import urllib.parse

__all__ = ["MASK", "PUBLIC_PASSWORDS", "add_secret", "mask", "redact", "scrub"]

MASK = "****"
# RabbitMQ's documented default password: not a secret, and masking the word would
# garble every line that names the guest user.
PUBLIC_PASSWORDS = frozenset({"guest"})

_SECRETS: set[str] = set()

# user:password@ in anything that looks like a URL (also inside longer text): the user may
# hold an '@', the password runs to the last '@' before a space (an unescaped '/', '?' or
# '#' in it must not cut the mask short).  A space in a password: see add_secret.
_USERINFO = re.compile(r"(?P<pre>[A-Za-z][A-Za-z0-9+.\-]*://[^:/\s]*?:)(?P<pw>\S*)@")


def mask(url) -> str:
    """The URL (or any text) with every URL password replaced by ``****`` (whatever it is given)."""
    if url is None:
        return ""
    return _USERINFO.sub(lambda m: m.group("pre") + MASK + "@", str(url))


def add_secret(secret) -> None:
    """Mask ``secret`` (and its %-escaped form) in every log record and :func:`scrub` from now on.

    Shorter than 3 characters, it would mask half of every line: such a password is
    masked only where it stands in a URL."""
    if not isinstance(secret, str) or len(secret) < 3:
        return
    _SECRETS.add(secret)
    _SECRETS.add(urllib.parse.quote(secret, safe=""))


def scrub(text) -> str:
    """``text`` with every URL's password and every known secret masked."""
    out = mask(str(text))
    for secret in sorted(_SECRETS, key=len, reverse=True):  # a secret may hold a shorter one
        if secret in out:
            out = out.replace(secret, MASK)
    return out


def redact(text, *secrets) -> str:
    """Text with every URL's password, each given secret and every secret known before masked."""
    for s in secrets:
        if s not in PUBLIC_PASSWORDS:
            add_secret(s)
    return scrub(text)
