"""core/secrets.py is the one masker: the logging filter, AMQP URLs and the submit-dir reader use it."""

from __future__ import annotations

from panorama_tui.core import logsetup, secrets
from panorama_tui.sources.pegasus import submitdir
from panorama_tui.transport import amqp_url


def test_one_masker_everywhere():
    assert amqp_url.mask is secrets.mask and amqp_url.redact is secrets.redact
    assert logsetup.scrub is secrets.scrub and logsetup.add_secret is secrets.add_secret
    assert submitdir.mask is secrets.mask


def test_masks_urls_and_known_secrets():
    assert secrets.mask("x amqp://u:pw-1@h/v/e y") == "x amqp://u:****@h/v/e y"
    assert secrets.redact("token Zz9-secret-Q here", "Zz9-secret-Q") == "token **** here"
    assert secrets.scrub("again Zz9-secret-Q") == "again ****"  # known from now on
    assert secrets.redact("user guest", "guest") == "user guest"  # RabbitMQ's public default stays readable
