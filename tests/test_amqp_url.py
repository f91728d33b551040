"""AMQP URLs as Pegasus writes them, defaults, masking and settings (no broker needed)."""

from __future__ import annotations

import pytest

from panorama_tui.core import settings
from panorama_tui.transport.amqp_url import UrlError, mask, parse, redact, resolve

SECRET = "s3cr3t-PW"


def test_pegasus_form_with_vhost_and_exchange():
    u = parse(f"amqp://panorama:{SECRET}@broker.example.org:5673/panorama/monitoring")
    assert (u.scheme, u.host, u.port, u.user, u.password) == ("amqp", "broker.example.org", 5673, "panorama", SECRET)
    assert (u.vhost, u.exchange) == ("panorama", "monitoring")
    assert not u.tls


def test_defaults_fit_the_panorama_deployment():
    u = parse("amqp://broker")
    assert (u.user, u.password, u.port, u.vhost, u.exchange) == ("guest", "guest", 5672, "panorama", "monitoring")
    assert parse("amqps://broker").port == 5671
    # monitord reads a single path part as the exchange
    u = parse("amqp://broker/pegasus-events")
    assert (u.vhost, u.exchange) == ("panorama", "pegasus-events")
    u = parse("amqp://broker/myvhost/")
    assert (u.vhost, u.exchange) == ("myvhost", "monitoring")


def test_vhost_is_url_decoded():
    u = parse("amqp://guest:guest@127.0.0.1:5672/%2F/my%2Eexchange")
    assert u.vhost == "/"
    assert u.exchange == "my.exchange"
    assert parse("amqp://u:p%40ss@h/v/e").password == "p@ss"


@pytest.mark.parametrize(
    "bad",
    ["", "http://h/v/e", "amqp://h/a/b/c", f"amqp://u:{SECRET}@h:99999/v/e", f"amqp://u:{SECRET}@h/v/e?bogus=1",
     f"amqp://u:{SECRET}@h/v/e?heartbeat=x"],
)
def test_bad_urls_fail_without_the_password(bad):
    with pytest.raises(UrlError) as e:
        parse(bad)
    assert SECRET not in str(e.value)


def test_mask_hides_passwords_everywhere():
    url = f"amqp://panorama:{SECRET}@h:5672/panorama/monitoring"
    assert SECRET not in mask(url)
    assert mask(url) == "amqp://panorama:****@h:5672/panorama/monitoring"
    text = f"could not connect to {url} (amqps://x:{SECRET}@other/v/e)"
    assert SECRET not in mask(text)
    assert mask("amqp://h/v/e") == "amqp://h/v/e"
    assert SECRET not in mask(f"amqp://u:{SECRET}@weird@host/v/e")
    u = parse(url)
    assert SECRET not in str(u) and SECRET not in repr(u) and SECRET not in f"{u}"
    assert SECRET not in u.masked
    assert u.redact(f"error: password {SECRET} refused") == "error: password **** refused"
    assert SECRET not in redact(f"x {SECRET}", SECRET)


def test_tls_parameters_for_amqps(tmp_path):
    import ssl

    u = parse("amqps://u:p@broker.example.org/panorama/monitoring")
    params = u.connection_parameters()
    assert params.ssl_options is not None
    assert params.ssl_options.context.verify_mode == ssl.CERT_REQUIRED
    assert params.ssl_options.server_hostname == "broker.example.org"
    insecure = parse("amqps://u:p@h/v/e?verify=false").connection_parameters()
    assert insecure.ssl_options.context.verify_mode == ssl.CERT_NONE
    plain = parse("amqp://u:p@h/v/e?heartbeat=7").connection_parameters()
    assert plain.ssl_options is None and plain.heartbeat == 7
    assert plain.virtual_host == "v" and plain.credentials.username == "u"


def test_settings_precedence(tmp_path, monkeypatch):
    cfg = tmp_path / "panorama-top" / "config.toml"
    cfg.parent.mkdir()
    cfg.write_text(
        '[amqp]\nurl = "amqp://c:c@config-host/panorama/monitoring"\nqueue = "archive"\n'
        'bindings = ["stampede.#", "kickstart.#"]  # comment\nwf = "abc"\n'
    )
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    s = resolve(env={})
    assert s.url.startswith("amqp://c:c@config-host") and s.queue == "archive"
    assert s.bindings == ["stampede.#", "kickstart.#"] and s.wf == "abc"
    s = resolve(env={"PANORAMA_AMQP_URL": "amqp://e:e@env-host/v/x"})
    assert "env-host" in s.url and s.origin == "PANORAMA_AMQP_URL" and s.queue == "archive"
    s = resolve(url="amqp://cli-host/v/x", queue="q2", bindings=["darshan.#"], env={"PANORAMA_AMQP_URL": "amqp://e/v/x"})
    assert "cli-host" in s.url and s.queue == "q2" and s.bindings == ["darshan.#"]
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "none"))
    assert resolve(env={}).url is None


def test_tiny_toml_fallback_reads_our_config():
    text = '# c\n[amqp]\nurl = "amqp://u:p@h/v/e"\nbindings = ["a.#", \'b.#\']\nprefetch = 500\nverify = false\n'
    data = settings._tiny_toml(text)
    assert data == {"amqp": {"url": "amqp://u:p@h/v/e", "bindings": ["a.#", "b.#"], "prefetch": 500, "verify": False}}


def test_bad_config_is_one_masked_line(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[amqp]\nurl = "amqp://u:{SECRET}@h/v/e"\nbindings = "not a list"\n')
    with pytest.raises(UrlError) as e:
        resolve(env={}, config=str(cfg))
    assert "bindings" in str(e.value) and SECRET not in str(e.value)
