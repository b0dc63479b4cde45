"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives,
in plain text, with STARTTLS or with TLS from the first byte, optionally
asking for a login; and a throwaway certificate authority for it."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from helpers import free_port

USER = "organiser"
PASSWORD = "hunter2-Xq9!"  # what the tests check never appears in any output


@dataclass
class Received:
    """One message as the server got it."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        """The message parsed by the standard library, with the wire's CRLF
        line ends read as a mail client stores them."""
        parsed = message_from_bytes(self.data.replace(b"\r\n", b"\n"), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Inbox:
    """Everything received, and every login tried."""

    messages: list[Received] = field(default_factory=list)
    logins: list[tuple[str, bool]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                      envelope.original_content or envelope.content))
        return "250 Message accepted for delivery"


@dataclass
class QuitFailing(Inbox):
    """An inbox whose server answers QUIT with an error, after it has
    accepted every message."""

    quit_reply: str = "500 5.5.1 QUIT failed"

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        return self.quit_reply


@dataclass(frozen=True)
class Certificates:
    """A CA file for clients (SSL_CERT_FILE) and the server's own chain."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_certificates(folder: Path) -> Certificates:
    """A fresh CA and a certificate for 127.0.0.1 and localhost, signed by it."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "feeds test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                         critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    files = Certificates(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    files.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                 serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
    return files


@contextlib.contextmanager
def smtp_server(security: str = "none", certificates: Certificates | None = None,
                login: bool = False, quit_reply: str = "") -> Iterator[tuple[dict[str, str], Inbox]]:
    """An SMTP server on 127.0.0.1; yields the FEEDS_SMTP_* settings that
    reach it (with the right password when it asks for a login) and its inbox.
    With `quit_reply` it answers QUIT with that instead of 221."""
    inbox = QuitFailing(quit_reply=quit_reply) if quit_reply else Inbox()

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str,
                     auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode()
              and auth_data.password == PASSWORD.encode())
        inbox.logins.append((auth_data.login.decode() if isinstance(auth_data, LoginPassword)
                             else "", ok))
        return AuthResult(success=ok, handled=False)

    port = free_port()
    options: dict[str, Any] = {"hostname": "127.0.0.1", "port": port, "ready_timeout": 10}
    if login:
        # aiosmtpd offers AUTH after STARTTLS only, unless told otherwise; it
        # does not count TLS from the first byte as TLS, so "ssl" is told.
        options.update(authenticator=authenticate, auth_require_tls=security == "starttls",
                       auth_exclude_mechanism=["CRAM-MD5"])
    if security == "starttls":
        assert certificates is not None
        options.update(tls_context=certificates.server_context(), require_starttls=True)
    elif security == "ssl":
        assert certificates is not None
        options.update(ssl_context=certificates.server_context())
    controller = Controller(inbox, **options)
    controller.start()
    env = {"FEEDS_SMTP_HOST": "127.0.0.1", "FEEDS_SMTP_PORT": str(port),
           "FEEDS_SMTP_SECURITY": security}
    if login:
        env.update(FEEDS_SMTP_USER=USER, FEEDS_SMTP_PASSWORD=PASSWORD)
    try:
        yield env, inbox
    finally:
        controller.stop()
