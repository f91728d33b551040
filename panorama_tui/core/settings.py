"""Settings: one resolver for all five commands, and where each value came from.

Each setting is looked for in order, the first place that has it wins:

1. the command line (``--amqp``, ``--queue``, ``--bind``, ``--wf``),
2. the environment (``PANORAMA_*``; the broker is ``PANORAMA_AMQP_URL`` for every
   command: ``PANORAMA_MONITOR_AMQP`` is its deprecated alias, read with one warning),
3. the config file, ``config.toml`` in the config dir (:func:`panorama_tui.core.paths.config_file`),
   validated: an unknown table or key, or a value of the wrong type, is named in the error,
4. the submit dir's own Pegasus properties, when a command is given one
   (``pegasus.catalog.workflow.amqp.url``: the broker pegasus-monitord publishes to),
5. the default.

``--show-config`` on every command prints :meth:`Settings.lines`: each setting,
its value (passwords masked) and its origin.  The config file::

    [amqp]
    url = "amqps://panorama@broker.example.org/panorama/monitoring"
    password = "secret"               # for a URL with a user and no password
    queue = "panorama-archive"        # optional: a named durable queue
    bindings = ["stampede.#", "kickstart.#"]
    wf = "f84f05fc-..."               # optional: one workflow only

    [recording]
    keep_days = 14                    # recordings older than this are deleted
    keep_mb = 2048                    # and the oldest beyond this total

Standard library only, and the config file is read only when a setting is not
found before it: panorama-monitor resolves its broker at every job's start.
"""

from __future__ import annotations

import os
import re

from . import paths
from .secrets import mask

__all__ = [
    "ConfigError",
    "Setting",
    "Settings",
    "SPECS",
    "BROKER_VAR",
    "OLD_BROKER_VAR",
    "PASSWORD_VAR",
    "PEGASUS_BROKER_PROPERTY",
    "load_config_file",
    "resolve",
]

BROKER_VAR = "PANORAMA_AMQP_URL"
OLD_BROKER_VAR = "PANORAMA_MONITOR_AMQP"  # deprecated alias of BROKER_VAR (panorama-monitor's own, before)
PASSWORD_VAR = "PANORAMA_AMQP_PASSWORD"
PEGASUS_BROKER_PROPERTY = "pegasus.catalog.workflow.amqp.url"

CLI = "command line"
DEFAULT = "default"


class ConfigError(ValueError):
    """A config file that cannot be used: one line, naming the file and the key (never a password)."""


class _Spec:
    """One setting: its dotted name (``table.key`` in the config file), where else it may come from, its type."""

    __slots__ = ("name", "env", "old_env", "kind", "secret", "pegasus", "default")

    def __init__(self, name, kind="string", env=(), old_env=(), secret=False, pegasus=None, default=None):
        self.name, self.kind, self.env, self.old_env = name, kind, tuple(env), tuple(old_env)
        self.secret, self.pegasus, self.default = secret, pegasus, default


# Every setting there is; the config file may hold exactly these keys ([table] key).
SPECS = {
    s.name: s
    for s in (
        _Spec("amqp.url", env=(BROKER_VAR,), old_env=(OLD_BROKER_VAR,), pegasus=PEGASUS_BROKER_PROPERTY),
        _Spec("amqp.password", env=(PASSWORD_VAR,), secret=True),
        _Spec("amqp.queue"),
        _Spec("amqp.bindings", kind="list of strings"),
        _Spec("amqp.wf"),
        _Spec("recording.keep_days", kind="number", env=("PANORAMA_RECORDING_KEEP_DAYS",), default=14.0),
        _Spec("recording.keep_mb", kind="number", env=("PANORAMA_RECORDING_KEEP_MB",), default=2048.0),
        _Spec("spool.dir", env=(paths.SPOOL_DIR_VAR,), default=paths.default_spool_dir),  # collectors' spools
    )
}


class Setting:
    """A resolved value and where it came from: :data:`CLI`, an environment variable's name,
    the config file's path, ``pegasus properties (FILE)`` or :data:`DEFAULT` (value None: unset)."""

    __slots__ = ("name", "value", "origin", "secret")

    def __init__(self, name: str, value, origin: str, secret: bool = False):
        self.name, self.value, self.origin, self.secret = name, value, origin, secret

    @property
    def shown(self) -> str:
        """The value for people: passwords masked (a secret wholly, a URL's password part)."""
        if self.value is None:
            return "(not set)"
        if self.secret:
            return "****"
        if isinstance(self.value, (list, tuple)):
            return " ".join(str(v) for v in self.value)
        return mask(self.value) if isinstance(self.value, str) else f"{self.value:g}"

    def __repr__(self) -> str:  # never the password
        return f"Setting({self.name}={self.shown!r} from {self.origin})"


class Settings:
    """The resolved settings, by name; ``warnings`` are lines a command says once on stderr."""

    def __init__(self, items: dict, config_file: str, warnings: list):
        self.items, self.config_file, self.warnings = items, config_file, warnings

    def __getitem__(self, name: str):
        return self.items[name].value

    def get(self, name: str, default=None):
        s = self.items.get(name)
        return default if s is None or s.value is None else s.value

    def origin(self, name: str) -> str:
        return self.items[name].origin

    def lines(self) -> list[str]:
        """What ``--show-config`` prints: the config file, then ``name = value  (origin)`` per setting."""
        width = max((len(n) for n in self.items), default=0)
        exists = "" if os.path.isfile(self.config_file) else " (not there)"
        out = [f"config file: {self.config_file}{exists}"]
        for name, s in self.items.items():
            out.append(f"{name:<{width}} = {s.shown}  ({s.origin})")
        return out


# -- the config file -------------------------------------------------------------------------


def _load_toml(text: str) -> dict:
    try:
        import tomllib  # Python 3.11+
    except ImportError:  # pragma: no cover - 3.10: tomli, a dependency there
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:  # an install without tomli: enough TOML for our file
            return _tiny_toml(text)
    return tomllib.loads(text)


_TOML_LINE = re.compile(r'^\s*([A-Za-z0-9_\-]+)\s*=\s*(.+?)\s*$')


def _tiny_toml(text: str) -> dict:
    """Enough TOML for our config: [tables], strings, numbers, booleans, one-line string lists."""
    import ast

    out: dict = {}
    table = out
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            table = out.setdefault(line[1:-1].strip(), {})
            continue
        m = _TOML_LINE.match(line)
        if not m:
            raise ValueError(f"cannot read line: {mask(line)}")
        key, value = m.groups()
        if value.startswith(("'", '"', "[")):
            value = re.sub(r"\s+#[^\"']*$", "", value)
            table[key] = ast.literal_eval(value)
        elif value in ("true", "false"):
            table[key] = value == "true"
        else:
            value = value.split("#", 1)[0].strip()
            table[key] = float(value) if "." in value else int(value)
    return out


def _type_ok(kind: str, value) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, list) and all(isinstance(v, str) for v in value)  # list of strings


def _check_type(spec: _Spec, value, path: str) -> None:
    if not _type_ok(spec.kind, value):
        shown = "****" if spec.secret else mask(repr(value))
        raise ConfigError(f"{path}: {spec.name} must be a {spec.kind}, not {shown}")


def _validate(data: dict, path: str, check_types: bool) -> None:
    tables = sorted({name.split(".")[0] for name in SPECS})
    for table, body in data.items():
        if table not in tables:
            raise ConfigError(f"{path}: unknown table [{table}] (known: {', '.join(f'[{t}]' for t in tables)})")
        if not isinstance(body, dict):
            raise ConfigError(f"{path}: [{table}] must be a table")
        known = sorted(n.split(".", 1)[1] for n in SPECS if n.startswith(table + "."))
        for key, value in body.items():
            spec = SPECS.get(f"{table}.{key}")
            if spec is None:
                raise ConfigError(f"{path}: unknown key {table}.{key} (known in [{table}]: {', '.join(known)})")
            if check_types:
                _check_type(spec, value, path)


def load_config_file(path: str | None = None, check_types: bool = True) -> dict:
    """The config file, validated, as ``{table: {key: value}}`` ({} when there is none).

    Raises :class:`ConfigError` for a file that cannot be read, is not TOML, or
    holds an unknown table or key, or (``check_types``) a value of the wrong type."""
    from .secrets import redact

    path = path or paths.config_file()
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = _load_toml(text)
    except Exception as exc:
        raise ConfigError(f"cannot read {path}: {redact(exc)}") from None
    _validate(data, path, check_types)
    return data


# -- resolving --------------------------------------------------------------------------------


def resolve(
    names=None,
    cli: dict | None = None,
    env=None,
    config_file: str | None = None,
    pegasus: tuple[str, dict] | None = None,
) -> Settings:
    """Resolve ``names`` (default: every setting) by the order in the module's docstring.

    ``cli``: ``{name: value}`` from the command line (None or empty: not given);
    ``env``: the environment (``os.environ``); ``config_file``: another file than
    the default; ``pegasus``: ``(properties file, {key: value})`` of the submit dir
    the command was given.  Raises :class:`ConfigError` for a bad config file, and
    only when it was needed (no setting was found before it): an unknown table or
    key whenever the file is read, a wrong type where the value would be used."""
    env = os.environ if env is None else env
    cli = cli or {}
    path = config_file or paths.config_file()
    loaded: list = []  # the file, read once and only if some setting gets that far

    def from_file(name: str):
        if not loaded:
            loaded.append(load_config_file(path, check_types=False))
        table, key = name.split(".", 1)
        value = (loaded[0].get(table) or {}).get(key)
        if value is not None:  # checked where used: a value the environment overrides is not in the way
            _check_type(SPECS[name], value, path)
        return value

    items, warnings = {}, []
    for name in names or SPECS:
        spec = SPECS[name]
        value, origin = cli.get(name), CLI
        if value in (None, "", [], ()):
            value = None
            for var in spec.env + spec.old_env:
                if env.get(var):
                    value, origin = env[var], var
                    if var in spec.old_env:
                        warnings.append(f"{var} is deprecated: set {spec.env[0]} instead (read for now)")
                    break
        if value is None:
            value, origin = from_file(name), path
        if value is None and spec.pegasus and pegasus and pegasus[1].get(spec.pegasus):
            value, origin = pegasus[1][spec.pegasus], f"pegasus properties ({pegasus[0]})"
        if value is None:
            value, origin = (spec.default() if callable(spec.default) else spec.default), DEFAULT
        items[name] = Setting(name, value, origin, spec.secret)
    return Settings(items, path, warnings)
