"""TLS on the client protocol: a ``ketch server`` off loopback shows a certificate, clients pin it.

Clients do not check the certificate against a CA or a host name: they compare the SHA-256 of
its DER bytes with the fingerprint they pinned (`ketch.config.server_pin`), as SSH compares
host keys, before sending a byte of their own. A self-signed certificate, which `ketch server`
makes by itself (`ketch.server.tls`), is then as good as one from a CA.

A fingerprint is written ``sha256:`` and 64 hex digits; `parse_fingerprint` also takes the
``AB:CD:…`` form that ``openssl x509 -fingerprint -sha256`` prints.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import ssl

from .. import exception

HANDSHAKE_TIMEOUT_S = 10.0
_HEX = re.compile(r"[0-9a-f]{64}")


def fingerprint(der: bytes) -> str:
    """The fingerprint of a certificate given as DER bytes."""
    return "sha256:" + hashlib.sha256(der).hexdigest()


def parse_fingerprint(text: str) -> str:
    """``text`` as a fingerprint in the one written form; InvalidError if it is not one."""
    digits = text.strip().lower().removeprefix("sha256:").removeprefix("sha256 fingerprint=")
    digits = digits.replace(":", "")
    if not _HEX.fullmatch(digits):
        raise exception.InvalidError(
            f"{text!r} is not a certificate fingerprint: use the sha256:… value that "
            "`ketch server` prints at start (and `ketch token info` shows on its machine)"
        )
    return "sha256:" + digits


def client_context() -> ssl.SSLContext:
    """A context that accepts any certificate: the pin, checked after the handshake, decides."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def shown_fingerprint(writer: asyncio.StreamWriter) -> str:
    """The fingerprint of the certificate the server showed on this TLS connection."""
    return fingerprint(writer.get_extra_info("ssl_object").getpeercert(binary_form=True) or b"")


def check_pin(address: str, writer: asyncio.StreamWriter, pinned: str, source: str) -> None:
    """Refuse a connection whose certificate is not the pinned one (nothing was sent on it)."""
    shown = shown_fingerprint(writer)
    if hmac.compare_digest(shown, parse_fingerprint(pinned)):
        return
    writer.close()
    raise exception.ConnectionError(
        f"the control plane at {address} shows a TLS certificate with fingerprint {shown}, not "
        f"the one pinned in {source} ({pinned}): nothing was sent to it. If the server's "
        "certificate changed on purpose, compare with `ketch token info` on the server's "
        f"machine and re-pin: {repin_hint(source, shown)}; otherwise someone may be between "
        "you and the server."
    )


def repin_hint(source: str, shown: str) -> str:
    if source == "KETCH_SERVER_FINGERPRINT":
        return f"export KETCH_SERVER_FINGERPRINT={shown}"
    return f"`ketch token pin {shown}`"


def unpin_hint(source: str) -> str:
    if source == "KETCH_SERVER_FINGERPRINT":
        return "unset KETCH_SERVER_FINGERPRINT"
    if source.endswith("server.json"):
        return f"remove {source} (a server that was stopped left it)"
    return "clear the pin with `ketch token pin --clear`"


async def probe(host: str, port: int) -> str | None:
    """The fingerprint of the certificate a TLS server at host:port shows, or None if what
    answers there does not speak TLS. Only to explain a failure: it proves nothing."""
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=client_context()), HANDSHAKE_TIMEOUT_S)
    except (TimeoutError, OSError):
        return None
    shown = shown_fingerprint(writer)
    writer.close()
    return shown
