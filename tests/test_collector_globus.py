"""panorama-globus: the real globus-sdk against canned Transfer and Auth responses.

``globus_sdk.testing.RegisteredResponse`` / ``load_response`` put the answers in
the ``responses`` library, so every request goes through the SDK's real client,
authorizers, transport and error handling; nothing reaches the network.
"""

from __future__ import annotations

import copy
import io
import json
import os
import stat
import time
from pathlib import Path

import pytest

globus_sdk = pytest.importorskip("globus_sdk")
responses = pytest.importorskip("responses")
requests = pytest.importorskip("requests")
try:  # globus-sdk 4.x
    from globus_sdk.testing import RegisteredResponse, load_response  # noqa: E402
except ImportError:  # globus-sdk 3.x
    from globus_sdk._testing import RegisteredResponse, load_response  # noqa: E402

from panorama_tui.collectors.globus import collector  # noqa: E402
from panorama_tui.core.events import decode  # noqa: E402
from panorama_tui.model.store import Store  # noqa: E402

TRANSFER = "https://transfer.api.globus.org/v0.10/"
TOKEN_URL = "https://auth.globus.org/v2/oauth2/token"
WF = "0a114f53-f208-44da-9b5c-9c30edcf49c6"
TASK = "68df23b8-4916-11e9-9e69-0266b1fe9f9e"
OTHER = "11111111-2222-3333-4444-555555555555"
NATIVE_CLIENT = "8f2d7e6b-1c3a-4b5d-9e0f-123456789abc"


@pytest.fixture(autouse=True)
def mocked(monkeypatch, tmp_path):
    for k in ("GLOBUS_CLIENT_ID", "GLOBUS_CLIENT_SECRET", "PANORAMA_GLOBUS_CLIENT_ID", "GLOBUS_SDK_ENVIRONMENT"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    responses.start()
    yield
    responses.stop()
    responses.reset()


def sample_task(panorama_dir) -> dict:
    """The Panorama sample, back to what the Transfer API returns for a task."""
    doc = json.loads((panorama_dir / "transfer.inv.go.json").read_text())
    for k in ("@version", "@timestamp", "event", "wf_uuid", "dag_job_id"):
        doc.pop(k)
    return doc


def active(doc, files_done, bytes_done, **more):
    d = copy.deepcopy(doc)
    d.update(status="ACTIVE", completion_time=None, files_transferred=files_done, bytes_transferred=bytes_done,
             subtasks_succeeded=files_done, subtasks_pending=4 - files_done, effective_bytes_per_second=5000)
    d.update(more)
    return d


EVENTS = {
    "DATA_TYPE": "event_list", "offset": 0, "limit": 100, "total": 2, "length": 2,
    "DATA": [
        {"DATA_TYPE": "event", "code": "SUCCEEDED", "is_error": False, "description": "succeeded",
         "details": "{\"files_succeeded\": 2}", "time": "2019-03-18T00:40:26+00:00"},
        {"DATA_TYPE": "event", "code": "STARTED", "is_error": False, "description": "started",
         "details": "{}", "time": "2019-03-18T00:40:21+00:00"},
    ],
}


def register_task(doc, status=200, **kw):
    load_response(RegisteredResponse(service=None, path=f"{TRANSFER}task/{doc['task_id']}", json=doc,
                                     status=status, **kw))


def register_events(task_id, body=EVENTS):
    load_response(RegisteredResponse(service=None, path=f"{TRANSFER}task/{task_id}/event_list", json=body))


def store_login(tmp_path, expires_in=3600, access="AT-valid") -> str:
    path = str(tmp_path / "tokens.json")
    collector.save_tokens(path, {"client_id": NATIVE_CLIENT, "created": time.time(), "tokens": {
        "transfer.api.globus.org": {"access_token": access, "refresh_token": "RT-1",
                                    "expires_at_seconds": int(time.time()) + expires_in,
                                    "scope": "urn:globus:auth:scope:transfer.api.globus.org:all",
                                    "token_type": "Bearer"}}})
    return path


def run(tmp_path, *args):
    out = tmp_path / "events.jsonl"
    if out.exists():
        out.unlink()
    rc = collector.main(["--out", str(out), "--interval", "0.01", "--backoff-base", "0.01", "--backoff-max", "0.05",
                      *args])
    events = [json.loads(x) for x in out.read_text().splitlines()] if out.exists() else []
    return rc, events


def transfers(events):
    return [e for e in events if e["event"] == "transfer.inv.go"]


def test_follow_a_task_until_it_ends(tmp_path, panorama_dir, capsys):
    done = sample_task(panorama_dir)
    register_task(active(done, 0, 0))
    register_task(active(done, 0, 0))  # unchanged: not reported again
    register_task(active(done, 1, 16124, faults=1))
    register_task(done)
    register_events(TASK)
    tokens = store_login(tmp_path)
    rc, events = run(tmp_path, "--task", TASK, "--tokens", tokens)
    assert rc == 0, capsys.readouterr().err
    tr = transfers(events)
    assert [(e["status"], e["files_transferred"], e["bytes_transferred"]) for e in tr] == [
        ("ACTIVE", 0, 0), ("ACTIVE", 1, 16124), ("SUCCEEDED", 2, 32248)]
    last = tr[-1]
    # Every field of the sample, the workflow context from the label, and the task's events.
    sample = json.loads((panorama_dir / "transfer.inv.go.json").read_text())
    for key in set(sample) - {"@version", "@timestamp"}:
        assert last[key] == sample[key], key
    assert [e["code"] for e in last["transfer_events"]] == ["SUCCEEDED", "STARTED"]
    assert set(last["transfer_events"][0]) == {"code", "is_error", "description", "details", "time"}
    # The requests carried the stored access token.
    assert responses.calls[0].request.headers["Authorization"] == "Bearer AT-valid"
    store = Store()
    store.apply_many(decode(e) for e in events)
    tr_obj = store.transfers[TASK]
    assert tr_obj.status == "SUCCEEDED" and tr_obj.wf_uuid == WF and tr_obj.job_id == "stage_in_local_local_2_2"
    assert store.find_job(WF, "stage_in_local_local_2_2").transfers == [TASK]
    assert [e["reason"] for e in events if e["event"] == "collector.status"] == ["started"]


def test_workflow_label_selection_from_task_list(tmp_path, panorama_dir):
    mine = sample_task(panorama_dir)
    other_wf = dict(copy.deepcopy(mine), task_id=OTHER, label="deadbeef-0000-1111-2222-333333333333 - stage_out_1")
    unlabelled = dict(copy.deepcopy(mine), task_id="22222222-2222-3333-4444-555555555555", label="my own copy")
    load_response(RegisteredResponse(service=None, path=f"{TRANSFER}task_list", json={
        "DATA_TYPE": "task_list", "offset": 0, "limit": 100, "total": 3, "length": 3,
        "DATA": [mine, other_wf, unlabelled]}))
    for tid in (TASK, OTHER, unlabelled["task_id"]):
        register_events(tid)
    tokens = store_login(tmp_path)
    rc, events = run(tmp_path, "--wf-uuid", WF.upper(), "--tokens", tokens, "--once")
    assert rc == 0
    assert [e["task_id"] for e in transfers(events)] == [TASK]
    req = responses.calls[0].request
    assert "orderby=request_time+DESC" in req.url and "filter=request_time" in req.url
    rc, events = run(tmp_path, "--labelled", "--tokens", tokens, "--once")
    assert sorted(e["task_id"] for e in transfers(events)) == sorted([TASK, OTHER])
    rc, events = run(tmp_path, "--tokens", tokens, "--once")  # the user's recent tasks: all of them
    assert len(transfers(events)) == 3
    assert "wf_uuid" not in [e for e in transfers(events) if e["label"] == "my own copy"][0]


@pytest.mark.parametrize(
    "failure, reason",
    [
        (dict(status=429, headers={"Retry-After": "0"}, json={"code": "RequestLimitExceeded", "message": "slow down"}),
         "rate_limited"),
        (dict(status=503, json={"code": "ServiceUnavailable", "message": "maintenance"}), "service_error"),
        (dict(status=500, body="<html>oops</html>"), "service_error"),
    ],
)
def test_rate_limits_and_server_errors_back_off_then_recover(tmp_path, panorama_dir, failure, reason):
    done = sample_task(panorama_dir)
    load_response(RegisteredResponse(service=None, path=f"{TRANSFER}task/{TASK}", **failure))
    load_response(RegisteredResponse(service=None, path=f"{TRANSFER}task/{TASK}", **failure))
    register_task(done)
    register_events(TASK)
    rc, events = run(tmp_path, "--task", TASK, "--tokens", store_login(tmp_path))
    assert rc == 0
    status = [(e["state"], e["reason"]) for e in events if e["event"] == "collector.status"]
    assert status == [("degraded", reason), ("ok", "recovered")]  # one event per change, not per retry
    assert transfers(events)[-1]["status"] == "SUCCEEDED"
    assert [e for e in events if e["event"] == "collector.status"][0]["failures"] == 1


def test_network_loss_is_a_status_not_a_hang(tmp_path, panorama_dir):
    done = sample_task(panorama_dir)
    for _ in range(3):
        responses.add(responses.GET, f"{TRANSFER}task/{TASK}",
                      body=requests.exceptions.ConnectionError("Network is unreachable"))
    register_task(done)
    register_events(TASK)
    t0 = time.monotonic()
    rc, events = run(tmp_path, "--task", TASK, "--tokens", store_login(tmp_path))
    assert rc == 0 and time.monotonic() - t0 < 10
    status = [(e["state"], e["reason"]) for e in events if e["event"] == "collector.status"]
    assert status == [("degraded", "network"), ("ok", "recovered")]
    assert "unreachable" in [e for e in events if e["event"] == "collector.status"][0]["message"]


def test_network_loss_with_once_gives_up(tmp_path):
    responses.add(responses.GET, f"{TRANSFER}task/{TASK}", body=requests.exceptions.ConnectionError("down"))
    rc, events = run(tmp_path, "--task", TASK, "--tokens", store_login(tmp_path), "--once")
    assert rc == 1
    assert [e["reason"] for e in events if e["event"] == "collector.status"] == ["network"]


def test_expired_access_token_is_refreshed_and_stored(tmp_path, panorama_dir):
    tokens = store_login(tmp_path, expires_in=-60, access="AT-old")
    load_response(RegisteredResponse(service=None, path=TOKEN_URL, method="POST", json={
        "access_token": "AT-new", "expires_in": 172800, "resource_server": "transfer.api.globus.org",
        "scope": "urn:globus:auth:scope:transfer.api.globus.org:all", "token_type": "Bearer",
        "refresh_token": "RT-2", "other_tokens": []}))
    register_task(sample_task(panorama_dir))
    register_events(TASK)
    rc, events = run(tmp_path, "--task", TASK, "--tokens", tokens)
    assert rc == 0
    assert responses.calls[0].request.url == TOKEN_URL
    assert "grant_type=refresh_token" in responses.calls[0].request.body
    assert responses.calls[1].request.headers["Authorization"] == "Bearer AT-new"
    saved = json.loads(Path(tokens).read_text())["tokens"]["transfer.api.globus.org"]
    assert saved["access_token"] == "AT-new" and saved["refresh_token"] == "RT-2"
    assert stat.S_IMODE(os.stat(tokens).st_mode) == 0o600


def test_revoked_login_is_an_auth_error_event(tmp_path):
    tokens = store_login(tmp_path, expires_in=-60)
    for _ in range(3):
        load_response(RegisteredResponse(service=None, path=TOKEN_URL, method="POST", status=400,
                                         json={"error": "invalid_grant"}))
    rc, events = run(tmp_path, "--task", TASK, "--tokens", tokens, "--max-failures", "3")
    assert rc == 1
    (st,) = [e for e in events if e["event"] == "collector.status"]
    assert st["state"] == "error" and st["reason"] == "auth"


def test_401_from_transfer_makes_the_authorizer_renew(tmp_path, panorama_dir):
    tokens = store_login(tmp_path)
    load_response(RegisteredResponse(service=None, path=f"{TRANSFER}task/{TASK}", status=401,
                                     json={"code": "AuthenticationFailed", "message": "Token is not active"}))
    load_response(RegisteredResponse(service=None, path=TOKEN_URL, method="POST", json={
        "access_token": "AT-renewed", "expires_in": 3600, "resource_server": "transfer.api.globus.org",
        "scope": "urn:globus:auth:scope:transfer.api.globus.org:all", "token_type": "Bearer", "other_tokens": []}))
    register_task(sample_task(panorama_dir))
    register_events(TASK)
    rc, events = run(tmp_path, "--task", TASK, "--tokens", tokens)
    assert rc == 0
    assert [(e["state"], e["reason"]) for e in events if e["event"] == "collector.status"] == [
        ("error", "auth"), ("ok", "recovered")]
    assert responses.calls[-2].request.headers["Authorization"] == "Bearer AT-renewed"


def test_client_credentials(tmp_path, panorama_dir, monkeypatch):
    monkeypatch.setenv("GLOBUS_CLIENT_ID", "5b1c2a3d-0000-4000-8000-00000000cc01")
    monkeypatch.setenv("GLOBUS_CLIENT_SECRET", "s3cret")
    load_response(RegisteredResponse(service=None, path=TOKEN_URL, method="POST", json={
        "access_token": "AT-cc", "expires_in": 172800, "resource_server": "transfer.api.globus.org",
        "scope": "urn:globus:auth:scope:transfer.api.globus.org:all", "token_type": "Bearer", "other_tokens": []}))
    register_task(sample_task(panorama_dir))
    register_events(TASK)
    rc, events = run(tmp_path, "--task", TASK)
    assert rc == 0
    assert "grant_type=client_credentials" in responses.calls[0].request.body
    assert responses.calls[1].request.headers["Authorization"] == "Bearer AT-cc"


def test_unknown_task_gives_a_transfer_status(tmp_path):
    load_response(RegisteredResponse(service=None, path=f"{TRANSFER}task/{TASK}", status=404,
                                     json={"code": "TaskNotFound", "message": "Task not found"}))
    rc, events = run(tmp_path, "--task", TASK, "--tokens", store_login(tmp_path))
    assert rc == 1
    (st,) = [e for e in events if e["event"] == "transfer.status"]
    assert st["task_id"] == TASK and st["reason"] == "not_found"


def test_no_credentials_is_one_clear_line(tmp_path, capsys):
    rc, events = run(tmp_path, "--task", TASK)
    assert rc == 78
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "panorama-globus login" in err and "GLOBUS_CLIENT_ID" in err
    assert events[0]["event"] == "collector.status" and events[0]["reason"] == "no_credentials"
    assert not responses.calls


def test_login_refuses_without_a_tty(tmp_path, capsys):
    class Pipe(io.StringIO):
        def isatty(self):
            return False

    args = collector.build_login_parser("login").parse_args(["--client-id", NATIVE_CLIENT])
    assert collector.login(args, stdin=Pipe("code\n")) == 64
    err = capsys.readouterr().err
    assert "not a tty" in err and err.count("\n") == 1
    assert collector.main(["login"]) == 64  # no client id either
    assert not responses.calls


def test_login_exchanges_the_code_and_stores_0600(tmp_path, capsys):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    load_response(RegisteredResponse(service=None, path=TOKEN_URL, method="POST", json={
        "access_token": "AT-login", "expires_in": 172800, "resource_server": "transfer.api.globus.org",
        "scope": "urn:globus:auth:scope:transfer.api.globus.org:all", "token_type": "Bearer",
        "refresh_token": "RT-login", "other_tokens": []}))
    path = tmp_path / "cfg" / "tokens.json"
    args = collector.build_login_parser("login").parse_args(["--client-id", NATIVE_CLIENT, "--tokens", str(path)])
    shown = io.StringIO()
    assert collector.login(args, stdin=Terminal("the-code\n"), stderr=shown) == 0
    assert "https://auth.globus.org/v2/oauth2/authorize?" in shown.getvalue()
    assert "code=the-code" in responses.calls[0].request.body
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    data = collector.load_tokens(str(path))
    assert data["client_id"] == NATIVE_CLIENT
    assert data["tokens"]["transfer.api.globus.org"]["refresh_token"] == "RT-login"
    assert collector.main(["logout", "--tokens", str(path)]) == 0 and not path.exists()


def test_parse_label():
    assert collector.parse_label(f"{WF} - stage_in_local_local_2_2") == (WF, "stage_in_local_local_2_2")
    assert collector.parse_label("backup of my files") == (None, None)
    assert collector.parse_label(None) == (None, None)


def test_bad_arguments(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        collector.main(["--interval", "-1"])
    assert e.value.code == 64
    assert capsys.readouterr().err.count("\n") == 1
