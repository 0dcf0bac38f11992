"""The certificate ``ketch server`` shows on its client port and its web gateway.

- ``--tls-cert PATH --tls-key PATH``: that pair, on any address.
- No pair, and ``--host`` other than 127.0.0.1, ::1 or localhost (the default, which only this
  machine reaches): a self-signed pair made once under ``KETCH_HOME/tls/`` (the key 0600) and
  kept, so that its fingerprint, which clients pin (`ketch.protocol.tls`), survives restarts.
  Other 127.x addresses count as off loopback too: serving TLS where it was not needed costs
  a handshake, serving plain text where it was costs the tokens.
- Otherwise plain TCP: the fast path for this machine's clients. This machine's containers
  always reach the control plane on a unix socket, in plain text, whatever the client port does.
"""

from __future__ import annotations

import datetime
import os
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from .. import exception
from ..protocol.tls import fingerprint
from .store import private_directory

PLAIN_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
VALID_DAYS = 3650


@dataclass(frozen=True)
class ServerTls:
    cert: Path
    key: Path
    fingerprint: str

    def context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert, self.key)
        return context


def choose(host: str, cert: Path | None, key: Path | None, home: Path) -> ServerTls | None:
    """The pair to serve on ``host`` (see the module's docstring); None: plain TCP."""
    if (cert is None) != (key is None):
        raise exception.InvalidError(
            "--tls-cert and --tls-key go together: pass both (a PEM certificate and its "
            "private key), or neither to have ketch make a self-signed pair when needed"
        )
    if cert is not None and key is not None:
        return load(cert, key)
    if host in PLAIN_HOSTS:
        return None
    return self_signed(home / "tls", host)


def load(cert: Path, key: Path) -> ServerTls:
    """A certificate (its chain, leaf first) and its key, checked to belong together."""
    try:
        pem = cert.read_text()
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key)
        leaf = ssl.PEM_cert_to_DER_cert(pem[:pem.index("-----END CERTIFICATE-----") + 25])
    except (OSError, ValueError, ssl.SSLError) as exc:
        raise exception.InvalidError(
            f"cannot serve TLS with --tls-cert {cert} --tls-key {key}: {exc}. Pass a PEM "
            "certificate (chain, leaf first) and the PEM private key that matches it"
        ) from exc
    return ServerTls(cert, key, fingerprint(leaf))


def self_signed(directory: Path, host: str) -> ServerTls:
    """The pair in ``directory``, made (EC P-256, self-signed) the first time."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    if not (cert.exists() and key.exists()):
        private_directory(directory)
        _make_pair(cert, key, host)
    return load(cert, key)


def _make_pair(cert: Path, key: Path, host: str) -> None:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for text in sorted({host, "127.0.0.1", "localhost", socket.gethostname()} - {"0.0.0.0", "::", ""}):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(text)))
        except ValueError:  # a host name, not an address
            names.append(x509.DNSName(text))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"ketch server {host}")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(private.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .sign(private, hashes.SHA256())
    )
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    os.chmod(key, 0o600)
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
