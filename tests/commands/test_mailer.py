"""Sending through a real SMTP server on loopback (aiosmtpd): plain, STARTTLS
and TLS, with and without a login; every failure says why, never with the
password."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from feeds.commands import mailer
from feeds.settings import Settings

from helpers import free_port
from smtp_server import PASSWORD, USER, make_certificates, smtp_server


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def trusted(certificates, monkeypatch):
    """The test CA trusted as OpenSSL's default (what an installed CA would be)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates.ca_file))
    return certificates


def message(to: str = "list@example.org") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Series <series@example.org>"
    msg["To"] = to
    msg["Subject"] = "Grüße"
    msg.set_content("Hello ✓\n")
    return msg


def smtp_settings(env: dict[str, str], **changes: str) -> mailer.SmtpSettings:
    environ = {**env, **{f"FEEDS_SMTP_{k.upper()}": v for k, v in changes.items()}}
    return mailer.SmtpSettings.from_settings(Settings.load(environ=environ))


@pytest.mark.parametrize("security", ["none", "starttls", "ssl"])
def test_a_message_arrives_with_each_kind_of_security(security, trusted):
    with smtp_server(security, trusted, login=security != "none") as (env, inbox):
        refused = mailer.send(message("a@example.org, b@example.org"), smtp_settings(env))
    assert refused == {}
    [received] = inbox.messages
    assert received.rcpt_tos == ["a@example.org", "b@example.org"]
    assert received.message["Subject"] == "Grüße"
    assert received.message.get_content() == "Hello ✓\n"
    assert inbox.logins == ([] if security == "none" else [(USER, True)])


def test_a_wrong_password_is_refused_and_never_shown(trusted):
    with smtp_server("starttls", trusted, login=True) as (env, inbox):
        wrong = env | {"FEEDS_SMTP_PASSWORD": PASSWORD + "-old"}
        with pytest.raises(mailer.MailError) as failure:
            mailer.send(message(), smtp_settings(wrong))
    text = str(failure.value)
    assert "refused the login" in text and "FEEDS_SMTP_PASSWORD" in text and "535" in text
    assert PASSWORD not in text
    # smtplib tries each mechanism the server offers (PLAIN, LOGIN); none got in
    assert inbox.messages == [] and inbox.logins and not any(ok for _, ok in inbox.logins)


def test_an_error_after_the_message_was_accepted_is_no_failure():
    """The server took the message (250 after DATA); its answer to QUIT
    cannot unsend it."""
    with smtp_server("none", quit_reply="500 5.5.1 QUIT failed") as (env, inbox):
        assert mailer.send(message(), smtp_settings(env)) == {}
    [received] = inbox.messages
    assert received.rcpt_tos == ["list@example.org"]


def test_an_untrusted_certificate_stops_before_the_login(certificates):
    with smtp_server("ssl", certificates, login=True) as (env, inbox):
        with pytest.raises(mailer.MailError, match="certificate is not trusted"):
            mailer.send(message(), smtp_settings(env))
    assert inbox.logins == [] and inbox.messages == []


def test_starttls_against_a_plain_server_fails_clearly(trusted):
    with smtp_server("none") as (env, inbox):
        with pytest.raises(mailer.MailError, match="STARTTLS"):
            mailer.send(message(), smtp_settings(env, security="starttls"))
    assert inbox.messages == []


def test_an_unreachable_server_is_named():
    port = free_port()  # nothing listens there
    smtp = mailer.SmtpSettings("127.0.0.1", port, "none", timeout=5)
    with pytest.raises(mailer.MailError, match=f"cannot reach 127.0.0.1:{port}"):
        mailer.send(message(), smtp)


def test_settings_say_what_is_missing():
    with pytest.raises(mailer.MailError, match="FEEDS_SMTP_HOST"):
        mailer.SmtpSettings.from_settings(Settings.load(environ={}))
    with pytest.raises(mailer.MailError, match="starttls, ssl, none"):
        smtp_settings({"FEEDS_SMTP_HOST": "mail.example.org"}, security="tls")
    with pytest.raises(mailer.MailError, match="both"):
        smtp_settings({"FEEDS_SMTP_HOST": "mail.example.org"}, user="me")
    usual = {security: smtp_settings({"FEEDS_SMTP_HOST": "mail.example.org"},
                                     security=security).port for security in mailer.SECURITY}
    assert usual == {"starttls": 587, "ssl": 465, "none": 25}


def test_passwords_are_read_exactly_as_written():
    for password in ("1e3", "null", "true", "0123", '"quoted"', " spaced "):
        loaded = smtp_settings({"FEEDS_SMTP_HOST": "h", "FEEDS_SMTP_USER": "u",
                                "FEEDS_SMTP_PASSWORD": password})
        assert loaded.password == password
        assert "password" not in repr(loaded)
