"""Who may see the session page: pairing codes, browser tokens, and the page's TLS certificate.

- **On this computer** (127.0.0.1, the default) the address the coach prints carries a long random
  key (``/?key=...``); opening it pairs that browser.
- **On the home network** (a tablet) the coach shows a 6-digit code on its console (and a QR code of
  the address with the code in it). Five wrong codes in a row replace the code by a new one, shown on
  the console, so guessing is hopeless. The page is served over HTTPS with a certificate the coach
  makes for itself (kept 0600 in its data folder and reused, so the browser's one-time warning does not
  come back every session).

A paired browser holds a random token in an HttpOnly, SameSite=Strict cookie (also Secure over HTTPS);
without it nothing but the pairing form is served. Tokens live as long as the coach process.
"""

from __future__ import annotations

import datetime as dt
import hmac
import ipaddress
import os
import secrets
import socket
from collections.abc import Callable, Iterable
from pathlib import Path

COOKIE = "coach_page"
MAX_FAILURES = 5


class Pairing:
    """The current pairing code and the tokens of paired browsers."""

    def __init__(
        self,
        *,
        digits: int | None = 6,
        max_failures: int = MAX_FAILURES,
        on_new_code: Callable[[str], None] | None = None,
    ) -> None:
        self.digits = digits
        self.max_failures = max_failures
        self.on_new_code = on_new_code
        self.failures = 0
        self.code = self._new_code()
        self._tokens: set[str] = set()

    def _new_code(self) -> str:
        if self.digits is None:
            return secrets.token_urlsafe(24)
        return f"{secrets.randbelow(10**self.digits):0{self.digits}d}"

    def pair(self, code: str) -> str | None:
        """A new browser token for the right code; ``None`` (and a count towards a new code) else."""
        given = "".join(code.split()) if self.digits is not None else code.strip()
        if given and hmac.compare_digest(given.encode(), self.code.encode()):
            self.failures = 0
            token = secrets.token_urlsafe(32)
            self._tokens.add(token)
            return token
        self.failures += 1
        if self.failures >= self.max_failures:
            self.failures = 0
            self.code = self._new_code()
            if self.on_new_code is not None:
                self.on_new_code(self.code)
        return None

    def valid(self, token: str | None) -> bool:
        if not token:
            return False
        return any(hmac.compare_digest(token.encode(), t.encode()) for t in self._tokens)


def lan_addresses() -> list[str]:
    """This computer's IPv4 addresses other than loopback (for the tablet's address)."""
    found: list[str] = []
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
    except OSError:
        infos = []
    for info in infos:
        addr = str(info[4][0])
        if not ipaddress.ip_address(addr).is_loopback and addr not in found:
            found.append(addr)
    return found


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    path.chmod(0o600)


def ensure_certificate(directory: Path, names: Iterable[str], days: int = 825) -> tuple[Path, Path]:
    """A self-signed certificate and key for the page (``cert.pem``, ``key.pem``, both 0600).

    Reused while it is valid for another 30 days and covers every name in ``names`` (host names and
    IP addresses); made anew otherwise.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    wanted = sorted(set(names) | {"localhost", "127.0.0.1"})
    now = dt.datetime.now(dt.UTC)
    if cert_path.exists() and key_path.exists():
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            have = {str(v) for v in san.get_values_for_type(x509.DNSName)} | {
                str(v) for v in san.get_values_for_type(x509.IPAddress)
            }
            if set(wanted) <= have and cert.not_valid_after_utc - now > dt.timedelta(days=30):
                return cert_path, key_path
        except (ValueError, x509.ExtensionNotFound):
            pass
    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = []
    for name in wanted:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "retro-coach session page")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    _write_private(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path
