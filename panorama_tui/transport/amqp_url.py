"""AMQP URLs as Pegasus writes them, their settings, and keeping passwords out of sight.

``amqp[s]://user:pass@host:port/<vhost>/<exchange>``: the last path part is the
exchange and the one before it the virtual host, as pegasus-monitord reads
them.  Parts are URL-decoded, so the default vhost ``/`` is written ``%2F``.
Missing parts take the Panorama 360 deployment's values: vhost ``panorama``,
topic exchange ``monitoring``, user ``guest``, port 5672 (5671 for amqps).

A single path part names the exchange (monitord reads it the same way).  Query
parameters: ``heartbeat``, ``connection_timeout`` (seconds); for ``amqps``
also ``cafile``, ``certfile``, ``keyfile``, ``server_name`` and ``verify``
(``verify=false`` accepts any certificate, as monitord itself does).

Settings come from, first to last, the command line, ``PANORAMA_AMQP_URL`` and
``[amqp]`` in ``~/.config/panorama-top/config.toml`` (:mod:`panorama_tui.core.settings`,
every command's one resolver, shows the file's keys); :func:`resolve` gives them as
:class:`AmqpSettings`.

A URL that names a user but no password takes it from ``PANORAMA_AMQP_PASSWORD``,
then the config file's ``password``: so it need never be on a command line,
where ``ps`` shows it.  One given there anyway is overwritten in the process's
command line as soon as the program has started (:func:`hide_password_from_ps`).

Every URL shown anywhere goes through :func:`mask`; error text that may quote
a URL goes through :func:`redact` (both from :mod:`panorama_tui.core.secrets`, the one
masker); a password parsed is known to the logging filter from then on.
"""

from __future__ import annotations

import os
import sys
import urllib.parse
from dataclasses import dataclass, field

from ..core import paths, settings
from ..core.logsetup import hide_in_cmdline
from ..core.secrets import MASK, add_secret, mask, redact

__all__ = [
    "AmqpUrl",
    "AmqpSettings",
    "DEFAULT_BINDINGS",
    "DEFAULT_EXCHANGE",
    "DEFAULT_VHOST",
    "ENV_VAR",
    "PASSWORD_ENV_VAR",
    "UrlError",
    "config_path",
    "fill_password",
    "hide_password_from_ps",
    "load_config",
    "mask",
    "parse",
    "redact",
    "resolve",
]

DEFAULT_VHOST = "panorama"
DEFAULT_EXCHANGE = "monitoring"
DEFAULT_USER = "guest"
DEFAULT_PASSWORD = "guest"
DEFAULT_HOST = "localhost"
DEFAULT_BINDINGS = ("stampede.#", "kickstart.#", "transfer.#", "darshan.#", "parsl.#")
ENV_VAR = settings.BROKER_VAR
PASSWORD_ENV_VAR = settings.PASSWORD_VAR
CLI_ORIGIN = settings.CLI

_QUERY_KEYS = {"heartbeat", "connection_timeout", "cafile", "certfile", "keyfile", "server_name", "verify"}


class UrlError(ValueError):
    """A URL that cannot be used; the message never holds the password."""


def _typed_password(url: str) -> tuple[str, str | None, int]:
    """(the URL with its password masked, the password as typed or None, where it starts).

    The user info runs to the LAST '@', as its writer meant it, even where an
    unescaped '/', '?', '#' or space hides it from urlsplit."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, hostpart = rest.rpartition("@")
    user, colon, password = userinfo.partition(":")
    if not (sep and at and colon):
        return url, None, -1
    return f"{scheme}://{user}:{MASK}@{hostpart}", password, len(scheme) + 3 + len(user) + 1


def fill_password(url: str, env=None, config: dict | None = None) -> str:
    """``url`` with the password of ``PANORAMA_AMQP_PASSWORD`` (else the config's ``password``)
    put in, when it names a user and no password."""
    env = os.environ if env is None else env
    return _with_password(url, env.get(PASSWORD_ENV_VAR) or (config if config is not None else load_config()).get("password"))


def _with_password(url: str, password) -> str:
    scheme, sep, rest = url.partition("://")
    userinfo, at, hostpart = rest.rpartition("@")
    if not (password and sep and at) or ":" in userinfo:
        return url
    add_secret(str(password))
    return f"{scheme}://{userinfo}:{urllib.parse.quote(str(password), safe='')}@{hostpart}"


def hide_password_from_ps(url: str | None, prog: str) -> None:
    """Overwrite the password of a URL given on our command line where ``ps`` reads it.

    Other users see a command line (/proc/PID/cmdline) but not the environment
    or the config file.  As mysql -p does, the bytes are starred in place, once
    the program has started: a ps in the first moments may still catch them.
    Where that cannot be done (no /proc), one line says so."""
    if not url:
        return
    _, password, at = _typed_password(url)
    if password and password != DEFAULT_PASSWORD and hide_in_cmdline(url, at, len(password)) is False:
        sys.stderr.write(f"{prog}: warning: the password given with --amqp shows in ps here; "
                         f"give it in {PASSWORD_ENV_VAR} or the config file instead\n")


@dataclass(frozen=True)
class AmqpUrl:
    scheme: str
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    vhost: str
    exchange: str
    query: dict = field(default_factory=dict, compare=False)

    @property
    def tls(self) -> bool:
        return self.scheme == "amqps"

    @property
    def masked(self) -> str:
        """A display form: never the password, always the vhost and exchange."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        vhost = urllib.parse.quote(self.vhost, safe="")
        ex = urllib.parse.quote(self.exchange, safe="")
        return f"{self.scheme}://{self.user}:{MASK}@{host}:{self.port}/{vhost}/{ex}"

    def __str__(self) -> str:  # never leak the password through str()/f-strings
        return self.masked

    def redact(self, text) -> str:
        return redact(text, self.password)

    def ssl_options(self):
        """pika SSLOptions for amqps, else None."""
        if not self.tls:
            return None
        import ssl  # here: a collector that publishes nowhere, or over plain amqp, does not pay for it

        import pika

        q = self.query
        ctx = ssl.create_default_context(cafile=q.get("cafile") or None)
        if q.get("certfile"):
            ctx.load_cert_chain(q["certfile"], q.get("keyfile") or None)
        if str(q.get("verify", "true")).lower() in ("0", "false", "no", "off"):
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return pika.SSLOptions(ctx, server_hostname=q.get("server_name") or self.host)

    def connection_parameters(self, **overrides):
        """pika ConnectionParameters for this URL (heartbeat etc. may be overridden)."""
        import pika

        kw = dict(
            host=self.host,
            port=self.port,
            virtual_host=self.vhost,
            credentials=pika.PlainCredentials(self.user, self.password),
            ssl_options=self.ssl_options(),
            heartbeat=30,
            blocked_connection_timeout=60,
            socket_timeout=5,
            stack_timeout=10,
            connection_attempts=1,
            client_properties={"connection_name": "panorama-top"},
        )
        q = self.query
        if "heartbeat" in q:
            kw["heartbeat"] = int(float(q["heartbeat"]))
        if "connection_timeout" in q:
            kw["socket_timeout"] = float(q["connection_timeout"])
            kw["stack_timeout"] = float(q["connection_timeout"]) * 2
        kw.update(overrides)
        return pika.ConnectionParameters(**kw)


def parse(url: str) -> AmqpUrl:
    """Parse an AMQP URL; raises :class:`UrlError` with a masked message."""
    if not isinstance(url, str) or not url.strip():
        raise UrlError("empty AMQP URL")
    url = url.strip()
    shown, typed, _ = _typed_password(url)
    if typed and typed != DEFAULT_PASSWORD:  # known to every error line and log record from here on
        add_secret(typed)
        add_secret(urllib.parse.unquote(typed))
    try:
        u = urllib.parse.urlsplit(url)
        at_after_host = "@" in url.partition("://")[2] and "@" not in u.netloc
        port = None if at_after_host else u.port
    except ValueError as exc:
        raise UrlError(f"bad AMQP URL {shown}: {redact(exc, url)}") from None
    if at_after_host:  # a password cut short by an unescaped '/', '?' or '#', or a name with an '@'
        raise UrlError(f"bad AMQP URL {shown}: an '@' after the host (write '/', '?', '#' in a password "
                       "as %2F, %3F, %23, and '@' in a name as %40)")
    scheme = u.scheme.lower()
    if scheme not in ("amqp", "amqps"):
        raise UrlError(f"bad AMQP URL {shown}: the scheme must be amqp:// or amqps://")
    if u.fragment:
        raise UrlError(f"bad AMQP URL {shown}: unexpected '#' fragment (write '#' in a name as %23)")
    host = u.hostname or DEFAULT_HOST
    if port is None:
        port = 5671 if scheme == "amqps" else 5672
    user = urllib.parse.unquote(u.username) if u.username is not None else DEFAULT_USER
    if u.password is not None:
        password = urllib.parse.unquote(u.password)
    else:
        password = DEFAULT_PASSWORD if u.username is None else ""
    parts = u.path.split("/")[1:] if u.path else []
    if len(parts) > 2:
        raise UrlError(
            f"bad AMQP URL {shown}: the path must be /<vhost>/<exchange> "
            "(write a '/' inside a name as %2F)"
        )
    if len(parts) == 2:
        vhost, exchange = parts
    elif len(parts) == 1:
        vhost, exchange = "", parts[0]
    else:
        vhost, exchange = "", ""
    vhost = urllib.parse.unquote(vhost) or DEFAULT_VHOST
    exchange = urllib.parse.unquote(exchange) or DEFAULT_EXCHANGE
    query = {}
    for k, v in urllib.parse.parse_qsl(u.query, keep_blank_values=True):
        if k not in _QUERY_KEYS:
            raise UrlError(f"bad AMQP URL {shown}: unknown parameter {k!r}")
        query[k] = v
    for k in ("heartbeat", "connection_timeout"):
        if k in query:
            try:
                float(query[k])
            except ValueError:
                raise UrlError(f"bad AMQP URL {shown}: {k} must be a number") from None
    return AmqpUrl(scheme, host, port, user, password, vhost, exchange, query)


# -- settings --------------------------------------------------------------


@dataclass
class AmqpSettings:
    url: str | None = None
    queue: str | None = None
    bindings: list[str] | None = None
    wf: str | None = None
    origin: str = ""  # where the URL came from: "command line", the env var, the config file
    warnings: list = field(default_factory=list)  # one line each, for stderr (a deprecated variable)


def config_path() -> str:
    return paths.config_file()


def load_config(path: str | None = None) -> dict:
    """The ``[amqp]`` table of the config file, validated ({} when there is none)."""
    try:
        return settings.load_config_file(path).get("amqp") or {}
    except settings.ConfigError as exc:
        raise UrlError(str(exc)) from None


def resolve(
    url: str | None = None,
    queue: str | None = None,
    bindings=None,
    wf: str | None = None,
    env=None,
    config: str | None = None,
) -> AmqpSettings:
    """Merge the command line, the environment and the config file.

    The URL comes from the first place that has one; ``queue``, ``bindings``
    and ``wf`` from the command line, else the config file.  ``url`` is None
    in the result when no place names one.
    """
    env = os.environ if env is None else env
    cli = {"amqp.url": url, "amqp.queue": queue, "amqp.bindings": list(bindings) if bindings else None, "amqp.wf": wf}
    try:
        r = settings.resolve((*cli, "amqp.password"), cli, env, config)
    except settings.ConfigError as exc:
        raise UrlError(str(exc)) from None
    s = AmqpSettings(queue=r.get("amqp.queue"), wf=r.get("amqp.wf"), warnings=r.warnings)
    s.bindings = list(r["amqp.bindings"]) if r.get("amqp.bindings") else None
    if r.get("amqp.url"):
        s.url, s.origin = _with_password(str(r["amqp.url"]), r.get("amqp.password")), r.origin("amqp.url")
    return s
