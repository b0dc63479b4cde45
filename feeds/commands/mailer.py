"""Sending one e-mail through an SMTP server (smtplib), with the FEEDS_SMTP_*
settings. A failure raises MailError with a message that says why and never
contains the password."""

from __future__ import annotations

import base64
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage

from feeds.settings import Settings

#: FEEDS_SMTP_SECURITY values: STARTTLS on the submission port, TLS from
#: the first byte, or plain text (a relay on the same machine).
SECURITY = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
TIMEOUT = 30.0  # seconds for the connection and each reply


class MailError(Exception):
    """Sending failed; the message says why (never with the password)."""


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send."""

    host: str
    port: int
    security: str = "starttls"
    user: str = ""
    password: str = field(default="", repr=False)
    timeout: float = TIMEOUT

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpSettings:
        """The FEEDS_SMTP_* settings, checked; MailError says what to set."""
        host = settings.smtp_host.strip()
        security = settings.smtp_security.strip().lower()
        if not host:
            raise MailError("no mail server: set FEEDS_SMTP_HOST (and FEEDS_SMTP_PORT, "
                            "FEEDS_SMTP_USER, FEEDS_SMTP_PASSWORD if it needs them)")
        if security not in SECURITY:
            raise MailError(f"FEEDS_SMTP_SECURITY={security!r} is not one of "
                            f"{', '.join(SECURITY)}")
        port = settings.smtp_port or DEFAULT_PORTS[security]
        if not 0 < port < 65536:
            raise MailError(f"FEEDS_SMTP_PORT={port} is not a port number")
        user, password = settings.smtp_user, settings.smtp_password
        if bool(user) != bool(password):
            raise MailError("set both FEEDS_SMTP_USER and FEEDS_SMTP_PASSWORD, or neither")
        return cls(host, port, security, user, password)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port} ({self.security})"


def _hide(text: str, secret: str) -> str:
    """`text` without `secret`, plain or in the base64 forms AUTH sends."""
    if not secret:
        return text
    for form in (secret, base64.b64encode(secret.encode()).decode()):
        text = text.replace(form, "<password>")
    return text


def _reply(exc: smtplib.SMTPResponseException) -> str:
    error = exc.smtp_error
    text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
    return f"{exc.smtp_code} {' '.join(text.split())}"


def _connect(smtp: SmtpSettings) -> smtplib.SMTP:
    context = ssl.create_default_context()
    if smtp.security == "ssl":
        return smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=context)
    client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
    if smtp.security == "starttls":
        try:
            client.starttls(context=context)
        except BaseException:
            client.close()
            raise
    return client


def _quit(client: smtplib.SMTP) -> None:
    """Say QUIT and close, whatever the server answers: once it has accepted
    the message (or refused it), its reply to QUIT changes nothing."""
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        client.close()


def send(message: EmailMessage, smtp: SmtpSettings) -> dict[str, str]:
    """Send `message` to the addresses in its To, Cc and Bcc headers; returns
    the recipients the server refused (the others got it). A message the
    server accepted counts as sent, even if QUIT then fails."""
    where = smtp.address
    try:
        client = _connect(smtp)
        try:
            if smtp.user:
                try:
                    client.login(smtp.user, smtp.password)
                except smtplib.SMTPAuthenticationError as exc:
                    raise MailError(f"{where} refused the login of {smtp.user!r}: "
                                    f"{_reply(exc)}; check FEEDS_SMTP_USER and "
                                    "FEEDS_SMTP_PASSWORD") from None
            refused = client.send_message(message)
        finally:
            _quit(client)
    except MailError as exc:
        raise MailError(_hide(str(exc), smtp.password)) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise MailError(_hide(f"{where}: {exc} (check FEEDS_SMTP_SECURITY and FEEDS_SMTP_USER)",
                              smtp.password)) from None
    except smtplib.SMTPRecipientsRefused as exc:
        refused_all = ", ".join(f"{who} ({_reply_pair(why)})" for who, why in exc.recipients.items())
        raise MailError(_hide(f"{where} refused every recipient: {refused_all}",
                              smtp.password)) from None
    except smtplib.SMTPResponseException as exc:
        raise MailError(_hide(f"{where} answered {_reply(exc)}", smtp.password)) from None
    except smtplib.SMTPException as exc:
        raise MailError(_hide(f"{where}: {exc}", smtp.password)) from None
    except ssl.SSLCertVerificationError as exc:
        raise MailError(f"{where}: the server's certificate is not trusted "
                        f"({exc.verify_message}); check FEEDS_SMTP_HOST") from None
    except ssl.SSLError as exc:
        raise MailError(f"{where}: TLS failed ({exc.reason or exc}); check "
                        "FEEDS_SMTP_SECURITY and FEEDS_SMTP_PORT") from None
    except TimeoutError:
        raise MailError(f"{where} did not answer within {smtp.timeout:g} seconds") from None
    except OSError as exc:
        raise MailError(f"cannot reach {where}: {exc.strerror or exc}") from None
    return {who: _reply_pair(why) for who, why in refused.items()}


def _reply_pair(reply: tuple[int, bytes]) -> str:
    code, text = reply
    return f"{code} {' '.join(text.decode('utf-8', 'replace').split())}"
