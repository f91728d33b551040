"""panorama-globus: follow Globus transfer tasks, as ``transfer.inv.go`` events.

``panorama-globus [--task ID]... [--wf-uuid UUID]... [--labelled] [sink options]``
``panorama-globus login --client-id ID`` (once, at a terminal)
``panorama-globus logout``

Which tasks: the given task ids; or the tasks whose label starts with a given
workflow uuid (Pegasus labels its transfers ``"<wf_uuid> - <dag job id>"``);
or, with ``--labelled``, every task labelled that way; by default the user's
tasks requested in the last ``--since`` hours.  A task is reported whenever its
document changes (status, bytes and files transferred, subtasks, faults,
effective rate), with its event list as ``transfer_events``, until it ends.
With only ``--task`` the collector exits when all of them have ended; ``--once``
makes one pass.

Auth without a person at the keyboard: a refresh token from one native-app
``login`` (stored with 0600 permissions in
``~/.config/panorama-top/globus-tokens.json``), or client credentials from
``GLOBUS_CLIENT_ID`` / ``GLOBUS_CLIENT_SECRET``.  Nothing ever prompts on a
stdin that is not a terminal.  An expired or revoked token, rate limiting
(429), server errors (5xx) and network loss give a ``collector.status`` event
(a ``transfer.status`` one for a task that is gone) and a backoff with jitter,
never a hang: every request has a timeout.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
from datetime import datetime, timedelta, timezone

from panorama_tui.core import backoff, logsetup, paths, secrets
from panorama_tui.core.logsetup import quiet_on_closed_stdout
from panorama_tui.core.private_files import replace_private

from panorama_tui.cli.base import CommandParser

from ..common import (
    EXIT_CONFIG,
    EXIT_USAGE,
    add_sink_args,
    positive_float,
    resolve_broker,
    say,
    show_sink_config,
    status_event,
)
from ..sinks import SinkError, open_sink

PROG = "panorama-globus"
TRANSFER_RS = "transfer.api.globus.org"
TRANSFER_BASE = "https://transfer.api.globus.org/v0.10/"
FINAL = frozenset({"SUCCEEDED", "FAILED"})
LABEL = re.compile(r"^\s*([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\s+-\s+(\S.*?)\s*$")
EVENT_FIELDS = ("code", "is_error", "description", "details", "time")

__all__ = ["main", "parse_label", "task_event", "Follower", "load_tokens", "save_tokens", "default_tokens_path"]


def default_tokens_path() -> str:
    return os.path.join(paths.config_dir(), "globus-tokens.json")


def parse_label(label) -> tuple[str | None, str | None]:
    """(wf_uuid, dag_job_id) from a Pegasus transfer label, else (None, None)."""
    if not isinstance(label, str):
        return None, None
    m = LABEL.match(label)
    if not m:
        return None, None
    return m.group(1).lower(), m.group(2)


def task_event(doc: dict, events: list | None, now: float | None = None) -> dict:
    """A ``transfer.inv.go`` event: the task document, the workflow context from
    its label, and its event list."""
    ev = dict(doc)
    ev["event"] = "transfer.inv.go"
    ev["ts"] = time.time() if now is None else now
    wf_uuid, job = parse_label(doc.get("label"))
    if wf_uuid:
        ev["wf_uuid"] = wf_uuid
        ev["dag_job_id"] = job
    if events is not None:
        ev["transfer_events"] = [{k: e.get(k) for k in EVENT_FIELDS} for e in events]
    ev.setdefault("DATA_TYPE", "task")
    return ev


# ---------------------------------------------------------------------------
# tokens


def load_tokens(path: str) -> dict | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    if st.st_mode & 0o077:
        try:
            os.chmod(path, 0o600)
            say(PROG, f"{path} was readable by others: permissions set to 0600")
        except OSError:
            say(PROG, f"{path} is readable by others: chmod 600 it")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as exc:
        raise TokenFileError(f"cannot read the token file {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("tokens"), dict) or not data.get("client_id"):
        raise TokenFileError(f"the token file {path} is not one panorama-globus wrote: run 'panorama-globus login'")
    return data


def save_tokens(path: str, data: dict) -> None:
    """Write the token file atomically, 0600, its directory 0700."""
    replace_private(path, json.dumps(data, indent=1))


class TokenFileError(Exception):
    pass


class NoCredentials(Exception):
    pass


def _mask_tokens(entry: dict) -> None:
    """Tokens are passwords: masked in every log record and error line from now on."""
    for key in ("access_token", "refresh_token"):
        secrets.add_secret(entry.get(key))


def _token_entry(resp) -> dict:
    return {
        "access_token": resp.get("access_token"),
        "refresh_token": resp.get("refresh_token"),
        "expires_at_seconds": resp.get("expires_at_seconds"),
        "scope": resp.get("scope"),
        "token_type": resp.get("token_type"),
    }


def make_authorizer(args, env=None):
    """(authorizer, description).  Client credentials win over a stored login."""
    import globus_sdk

    env = os.environ if env is None else env
    cid, secret = env.get("GLOBUS_CLIENT_ID"), env.get("GLOBUS_CLIENT_SECRET")
    if cid and secret:
        secrets.add_secret(secret)
        client = globus_sdk.ConfidentialAppAuthClient(cid, secret)
        return globus_sdk.ClientCredentialsAuthorizer(client, globus_sdk.TransferClient.scopes.all), \
            f"client credentials of {cid}"
    path = args.tokens or default_tokens_path()
    data = load_tokens(path)
    if data is None:
        raise NoCredentials(
            "no Globus credentials: run 'panorama-globus login --client-id ID' once at a terminal, "
            "or set GLOBUS_CLIENT_ID and GLOBUS_CLIENT_SECRET"
        )
    entry = data["tokens"].get(TRANSFER_RS) or {}
    if not entry.get("refresh_token"):
        raise NoCredentials(f"{path} has no refresh token for Globus Transfer: run 'panorama-globus login' again")
    _mask_tokens(entry)
    client = globus_sdk.NativeAppAuthClient(data["client_id"])

    def on_refresh(token_response):
        try:
            by_rs = token_response.by_resource_server
            if TRANSFER_RS in by_rs:
                _mask_tokens(by_rs[TRANSFER_RS])
                fresh = dict(entry)
                fresh.update({k: v for k, v in by_rs[TRANSFER_RS].items() if v is not None})
                data["tokens"][TRANSFER_RS] = fresh
                save_tokens(path, data)
        except Exception as exc:  # a token we cannot store is still good for this run
            say(PROG, f"cannot store the refreshed token in {path}: {exc}")

    authorizer = globus_sdk.RefreshTokenAuthorizer(
        entry["refresh_token"], client, access_token=entry.get("access_token"),
        expires_at=entry.get("expires_at_seconds"), on_refresh=on_refresh,
    )
    return authorizer, f"the login stored in {path}"


def make_transfer_client(authorizer, http_timeout: float):
    """A TransferClient that fails fast (we do our own backoff) and never waits forever."""
    import globus_sdk

    try:  # globus-sdk 4.x
        from globus_sdk.transport import RequestsTransport, RetryConfig

        return globus_sdk.TransferClient(
            authorizer=authorizer,
            transport=RequestsTransport(http_timeout=http_timeout),
            retry_config=RetryConfig(max_retries=0),
        )
    except (ImportError, TypeError):  # globus-sdk 3.x
        return globus_sdk.TransferClient(
            authorizer=authorizer, transport_params={"http_timeout": http_timeout, "max_retries": 0}
        )


# ---------------------------------------------------------------------------
# following


class Trouble(Exception):
    """A failed call, classified: kind is auth, rate_limited, service_error, network, forbidden, not_found, api_error."""

    def __init__(self, kind: str, message: str, retry_after: float | None = None, status: int | None = None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after = retry_after
        self.status = status


def classify(exc) -> Trouble:
    import globus_sdk

    if isinstance(exc, globus_sdk.GlobusAPIError):
        status = getattr(exc, "http_status", None)
        code = getattr(exc, "code", None) or ""
        msg = (getattr(exc, "message", None) or str(exc)).splitlines()[0][:200] if str(exc) else code
        # The public ``headers`` (globus-sdk 3.x and 4.x) is the response's own mapping: the
        # private ``_underlying_response`` this once fell back to could only give the same.
        try:
            headers = exc.headers or {}
        except Exception:  # a response without headers: no Retry-After to honour
            headers = {}
        retry_after = None
        try:
            if headers.get("Retry-After"):
                retry_after = float(headers["Retry-After"])
        except (TypeError, ValueError):
            pass
        if isinstance(exc, getattr(globus_sdk, "AuthAPIError", ())) or status == 401:
            return Trouble("auth", f"authentication failed ({status} {code}): {msg}", status=status)
        if status == 429:
            return Trouble("rate_limited", f"rate limited by Globus (429): {msg}", retry_after, status)
        if status is not None and status >= 500:
            return Trouble("service_error", f"Globus Transfer error {status} {code}: {msg}", retry_after, status)
        if status == 404:
            return Trouble("not_found", f"not found (404 {code}): {msg}", status=status)
        if status == 403:
            return Trouble("forbidden", f"not allowed (403 {code}): {msg}", status=status)
        return Trouble("api_error", f"Globus Transfer error {status} {code}: {msg}", status=status)
    if isinstance(exc, globus_sdk.NetworkError):
        under = getattr(exc, "underlying_exception", None) or getattr(exc, "exc", None)
        detail = f"{type(under).__name__}: {under}" if under is not None else str(exc)
        kind = "timed out" if isinstance(exc, getattr(globus_sdk, "GlobusTimeoutError", ())) else "cannot reach Globus"
        return Trouble("network", f"{kind}: {detail.splitlines()[0][:200] if detail else type(exc).__name__}")
    import requests

    if isinstance(exc, requests.exceptions.RequestException):
        return Trouble("network", f"cannot reach Globus: {type(exc).__name__}: {str(exc)[:200]}")
    return Trouble("api_error", f"{type(exc).__name__}: {str(exc)[:200]}")


class Follower:
    def __init__(self, tc, sink, *, task_ids=(), wf_uuids=(), labelled=False, since_hours=24.0, interval=10.0,
                 once=False, backoff_base=2.0, backoff_max=300.0, max_failures=None, authorizer=None,
                 list_limit=100):
        self.tc = tc
        self.sink = sink
        self.task_ids = [str(t) for t in task_ids]
        self.wf_uuids = [u.lower() for u in wf_uuids]
        self.labelled = labelled
        self.since_hours = since_hours
        self.interval = interval
        self.once = once
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_failures = max_failures
        self.authorizer = authorizer
        self.list_limit = list_limit
        self.fingerprints: dict[str, str] = {}
        self.final: set[str] = set()
        self.gone: set[str] = set()
        self.state = "starting"
        self.trouble_kind = None
        self.failures = 0
        self.stop = False
        self.emitted = 0

    # -- output ------------------------------------------------------------
    def _emit(self, events) -> None:
        if events:
            self.sink.emit(events)
            self.sink.flush()
            self.emitted += len(events)

    def _status(self, state: str, reason: str, message: str, **extra) -> None:
        self._emit([status_event(PROG, state, reason, message, **extra)])

    # -- calls -------------------------------------------------------------
    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # every SDK/requests failure is classified, none escapes
            trouble = classify(exc)
            if trouble.kind == "auth" and self.authorizer is not None and trouble.status == 401:
                # An access token the service no longer takes: let the authorizer renew it next time.
                try:
                    self.authorizer.handle_missing_authorization()
                except Exception:
                    pass
            raise trouble from None

    def _task_docs(self) -> list[dict]:
        docs = []
        if self.task_ids:
            for tid in self.task_ids:
                if tid in self.final or tid in self.gone:
                    continue
                try:
                    resp = self._call(self.tc.get_task, tid)
                except Trouble as t:
                    if t.kind in ("not_found", "forbidden"):
                        self.gone.add(tid)
                        say(PROG, f"task {tid}: {t.message}")
                        self._emit([{"event": "transfer.status", "ts": time.time(), "task_id": tid,
                                     "state": "error", "reason": t.kind, "message": t.message}])
                        continue
                    raise
                docs.append(dict(resp.data))
        if self.wf_uuids or self.labelled or not self.task_ids:
            since = datetime.now(timezone.utc) - timedelta(hours=self.since_hours)
            flt = "request_time:" + since.strftime("%Y-%m-%dT%H:%M:%S") + ","
            resp = self._call(self.tc.task_list, limit=self.list_limit, orderby="request_time DESC", filter=flt)
            for doc in resp:
                doc = dict(doc)
                tid = str(doc.get("task_id"))
                if tid in self.task_ids:
                    continue  # fetched above
                wf_uuid, _ = parse_label(doc.get("label"))
                if self.wf_uuids and wf_uuid not in self.wf_uuids:
                    continue
                if self.labelled and not self.wf_uuids and wf_uuid is None:
                    continue
                docs.append(doc)
        return docs

    def poll(self) -> None:
        """One pass: fetch, compare, emit the tasks that changed.  Raises Trouble."""
        out = []
        for doc in self._task_docs():
            tid = str(doc.get("task_id"))
            fp = json.dumps(doc, sort_keys=True, default=str)
            if self.fingerprints.get(tid) == fp:
                continue
            try:
                events = [dict(e) for e in self._call(self.tc.task_event_list, tid, limit=100)]
            except Trouble as t:
                if t.kind not in ("not_found", "forbidden"):
                    raise
                events = None
            out.append(task_event(doc, events))
            self.fingerprints[tid] = fp
            if doc.get("status") in FINAL:
                self.final.add(tid)
        self._emit(out)

    def done(self) -> bool:
        if self.once:
            return True
        if self.task_ids and not (self.wf_uuids or self.labelled):
            return all(t in self.final or t in self.gone for t in self.task_ids)
        return False

    # -- loop --------------------------------------------------------------
    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self.stop:
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.2))

    def run(self) -> int:
        while not self.stop:
            try:
                self.poll()
            except Trouble as t:
                self.failures += 1
                wait = backoff.delay(self.failures, self.backoff_base, self.backoff_max)
                if t.retry_after is not None:
                    wait = max(wait, min(t.retry_after, self.backoff_max))
                if t.kind != self.trouble_kind:
                    self.trouble_kind = t.kind
                    state = "error" if t.kind in ("auth", "forbidden") else "degraded"
                    say(PROG, f"{t.message}; retrying in {wait:.3g} s")
                    self._status(state, t.kind, t.message, retry_in=round(wait, 3), failures=self.failures)
                if self.max_failures is not None and self.failures >= self.max_failures:
                    say(PROG, f"giving up after {self.failures} failed attempts")
                    return 1
                self._sleep(wait)
                continue
            if self.trouble_kind is not None or self.state == "starting":
                reason = "recovered" if self.trouble_kind is not None else "started"
                self._status("ok", reason, "following Globus transfer tasks", failures=self.failures)
                self.trouble_kind = None
            self.state = "ok"
            self.failures = 0
            if self.done():
                return 0 if not self.gone else 1
            self._sleep(self.interval)
        return 0


# ---------------------------------------------------------------------------
# login


def login(args, stdin=None, stderr=None) -> int:
    import globus_sdk

    stdin = sys.stdin if stdin is None else stdin
    stderr = sys.stderr if stderr is None else stderr
    client_id = args.client_id or os.environ.get("PANORAMA_GLOBUS_CLIENT_ID")
    if not client_id:
        say(PROG, "login needs a native app client id: register one at https://app.globus.org/settings/developers "
                  "and pass --client-id (or set PANORAMA_GLOBUS_CLIENT_ID)")
        return EXIT_USAGE
    try:
        interactive = stdin.isatty()
    except (AttributeError, ValueError):
        interactive = False
    if not interactive:
        say(PROG, "login needs a terminal to paste the authorization code into (stdin is not a tty): run it once "
                  "interactively; jobs then use the stored refresh token")
        return EXIT_USAGE
    path = args.tokens or default_tokens_path()
    client = globus_sdk.NativeAppAuthClient(client_id)
    client.oauth2_start_flow(requested_scopes=globus_sdk.TransferClient.scopes.all, refresh_tokens=True)
    url = client.oauth2_get_authorize_url()
    stderr.write(f"Log in to Globus at this address, then paste the authorization code here:\n\n  {url}\n\ncode: ")
    stderr.flush()
    code = stdin.readline().strip()
    if not code:
        say(PROG, "no authorization code given: nothing stored")
        return 1
    try:
        tokens = client.oauth2_exchange_code_for_tokens(code)
    except Exception as exc:
        say(PROG, f"login failed: {classify(exc).message}")
        return 1
    by_rs = tokens.by_resource_server
    for entry in by_rs.values():
        _mask_tokens(entry)
    if TRANSFER_RS not in by_rs:
        say(PROG, "login did not give a Globus Transfer token: nothing stored")
        return 1
    data = {"client_id": client_id, "created": time.time(),
            "tokens": {TRANSFER_RS: _token_entry(by_rs[TRANSFER_RS])}}
    save_tokens(path, data)
    say(PROG, f"logged in; refresh token stored in {path} (0600)")
    return 0


def logout(args) -> int:
    path = args.tokens or default_tokens_path()
    try:
        os.unlink(path)
    except FileNotFoundError:
        say(PROG, f"no stored login at {path}")
        return 0
    say(PROG, f"removed {path} (revoke the grant at https://app.globus.org/account/consents if you like)")
    return 0


# ---------------------------------------------------------------------------
# command line


def build_parser():
    p = CommandParser(
        prog=PROG,
        description="Follow Globus transfer tasks and emit transfer.inv.go events whenever one changes. "
        "'panorama-globus login' stores a refresh token once; GLOBUS_CLIENT_ID/GLOBUS_CLIENT_SECRET use "
        "client credentials instead.",
    )
    g = p.add_argument_group("which tasks (default: your tasks of the last --since hours)")
    g.add_argument("--task", action="append", default=[], metavar="ID", help="a task id (repeatable)")
    g.add_argument("--wf-uuid", action="append", default=[], metavar="UUID",
                   help="tasks labelled '<UUID> - <job>' as Pegasus labels them (repeatable)")
    g.add_argument("--labelled", action="store_true", help="every task whose label carries a workflow uuid")
    g.add_argument("--since", type=positive_float(0.0), default=24.0, metavar="HOURS",
                   help="look at tasks requested this many hours back (default 24)")
    g = p.add_argument_group("polling")
    g.add_argument("--interval", type=positive_float(0.01), default=10.0, metavar="SECONDS",
                   help="seconds between polls (default 10)")
    g.add_argument("--once", action="store_true", help="one pass, then exit")
    g.add_argument("--backoff-base", type=positive_float(0.001), default=2.0, metavar="SECONDS",
                   help="first wait after a failure; doubles each time (default 2)")
    g.add_argument("--backoff-max", type=positive_float(0.001), default=300.0, metavar="SECONDS",
                   help="longest wait between attempts (default 300)")
    g.add_argument("--max-failures", type=int, default=None, metavar="N",
                   help="exit 1 after N failed attempts in a row (default: keep trying; 3 with --once)")
    g.add_argument("--http-timeout", type=positive_float(1.0), default=30.0, metavar="SECONDS",
                   help="timeout of each request (default 30)")
    g = p.add_argument_group("credentials")
    g.add_argument("--tokens", metavar="FILE", help=f"token file (default {default_tokens_path()})")
    add_sink_args(p, out_help="JSON-lines file to append events to, '-' for stdout (default: stdout)")
    return p


def build_login_parser(name: str):
    p = CommandParser(prog=f"{PROG} {name}", description="Store (or remove) a Globus login: a "
                                "refresh token from the native app flow, kept with 0600 permissions.")
    if name == "login":
        p.add_argument("--client-id", metavar="ID", help="your native app's client id ($PANORAMA_GLOBUS_CLIENT_ID)")
    p.add_argument("--tokens", metavar="FILE", help=f"token file (default {default_tokens_path()})")
    return p


@quiet_on_closed_stdout
def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logsetup.setup(PROG)  # globus-sdk's, the publisher's and pika's records: on stderr, tokens masked
    if argv[:1] in (["login"], ["logout"]):
        args = build_login_parser(argv[0]).parse_args(argv[1:])
        return login(args) if argv[0] == "login" else logout(args)
    if argv[:1] == ["follow"]:
        argv = argv[1:]
    args = build_parser().parse_args(argv)
    if args.show_config:
        return show_sink_config(PROG, args)
    problem = resolve_broker(PROG, args)
    if problem:
        say(PROG, problem)
        return EXIT_CONFIG
    try:
        sink = open_sink(args, PROG, default_out="-")
    except SinkError as exc:
        say(PROG, f"cannot open the event sink: {exc}")
        return EXIT_CONFIG
    try:
        try:
            authorizer, how = make_authorizer(args)
        except (NoCredentials, TokenFileError) as exc:
            say(PROG, str(exc))
            sink.emit([status_event(PROG, "error", "no_credentials", str(exc))])
            return EXIT_CONFIG
        tc = make_transfer_client(authorizer, args.http_timeout)
        follower = Follower(
            tc, sink, task_ids=args.task, wf_uuids=args.wf_uuid, labelled=args.labelled, since_hours=args.since,
            interval=args.interval, once=args.once, backoff_base=args.backoff_base, backoff_max=args.backoff_max,
            max_failures=args.max_failures if args.max_failures is not None else (3 if args.once else None),
            authorizer=authorizer,
        )

        def _stop(signum, frame):
            follower.stop = True

        old = {s: signal.signal(s, _stop) for s in (signal.SIGTERM, signal.SIGINT)} \
            if _in_main_thread() else {}
        try:
            return follower.run()
        finally:
            for s, h in old.items():
                signal.signal(s, h)
    finally:
        sink.close(timeout=10)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


if __name__ == "__main__":
    sys.exit(main())
