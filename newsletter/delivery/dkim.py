"""DKIM (RFC 6376) for the SMTP and outbox backends: key generation, the DNS record, signing.

A signer is built once per backend from ``delivery.dkim`` (selector, domain) and the
private key (``delivery.dkim.key_file``, or PEM text in ``NEWSLETTER_DKIM_PRIVATE_KEY``);
:meth:`DkimSigner.sign` puts a ``DKIM-Signature`` header (rsa-sha256, relaxed/relaxed) in
front of the final bytes of each message, so whatever built the message (the split-body
fast path included) is what is signed. Keys are RSA 2048 (what every receiver verifies;
Ed25519 alone is not yet enough for Gmail or Microsoft).

dkimpy parses, canonicalizes, hashes and folds (:func:`signature_header`); the RSA step is
OpenSSL's through ``cryptography``: ``dkim.sign`` computes RSA in pure Python and parses the
PEM key again for every message (16 ms a message against ~2 ms; docs/delivery.md).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import dkim
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
from dkim.canonicalization import CanonicalizationPolicy

from newsletter.errors import ConfigError
from newsletter.settings import Settings

#: Signed header fields (``h=``), as Gmail and Yahoo ask for bulk mail. A field the message
#: lacks (``Reply-To``) is signed as absent, so nobody can add it on the way.
SIGNED_HEADERS = (
    "From",
    "Reply-To",
    "Subject",
    "Date",
    "Message-ID",
    "To",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "MIME-Version",
    "Content-Type",
)
KEY_BITS = 2048
#: A TXT record's character-strings are at most 255 bytes each (RFC 1035 3.3.14).
TXT_CHUNK = 255


@dataclass(frozen=True, slots=True)
class DkimSigner:
    """Signs messages as ``selector._domainkey.domain`` with one RSA private key (PEM)."""

    selector: str
    domain: str
    private_key: bytes

    def header(self, message: bytes) -> bytes:
        """The ``DKIM-Signature:`` header line(s) for ``message``, CRLF-terminated."""
        return signature_header(
            message,
            selector=self.selector,
            domain=self.domain,
            key=_rsa_key(self.private_key),
            now=int(time.time()),
        )

    def sign(self, message: bytes) -> bytes:
        """``message`` with its ``DKIM-Signature`` header in front."""
        return self.header(message) + message


#: relaxed/relaxed (RFC 6376 3.4.2, 3.4.4): survives re-folding and whitespace changes.
_POLICY = CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")
_NAME = b"DKIM-Signature"


def signature_header(
    message: bytes, *, selector: str, domain: str, key: rsa.RSAPrivateKey, now: int
) -> bytes:
    """The ``DKIM-Signature`` header for ``message`` (rsa-sha256, relaxed/relaxed).

    dkimpy's own parts do the work (``rfc822_parse``, the canonicalization policy,
    ``fold``, ``hash_headers``: what ``dkim.sign`` runs, in its order); the RSA signature is
    OpenSSL's. dkimpy's ``sign`` would also re-parse the PEM key in pure Python (0.8 ms) and
    compute RSA with two 1024-bit ``pow`` (9 ms) for every message.
    """
    headers, body = dkim.rfc822_parse(message)
    include = tuple(name.lower().encode("ascii") for name in SIGNED_HEADERS)
    body_hash = base64.b64encode(hashlib.sha256(_POLICY.canonicalize_body(body)).digest())
    fields = [
        (b"v", b"1"),
        (b"a", b"rsa-sha256"),
        (b"c", b"relaxed/relaxed"),
        (b"d", domain.encode("ascii")),
        (b"i", b"@" + domain.encode("ascii")),
        (b"q", b"dns/txt"),
        (b"s", selector.encode("ascii")),
        (b"t", str(now).encode("ascii")),
        (b"h", b" : ".join(include)),
        (b"bh", body_hash),
        (b"b", b"0" * 60),  # as dkimpy: b= folds onto its own line, the tags before it stay
    ]
    unsigned = dkim.RE_BTAG.sub(b"\\1", dkim.fold(_join(fields), namelen=len(_NAME)))
    hasher = hashlib.sha256()
    canonical = _POLICY.canonicalize_headers(headers)
    dkim.hash_headers(hasher, _POLICY, canonical, include, (_NAME, b" " + unsigned), {})
    signature = key.sign(hasher.digest(), padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
    signed = [(k, base64.b64encode(signature) if k == b"b" else v) for k, v in fields]
    folded: bytes = dkim.fold(_join(signed) + b"\r\n", namelen=len(_NAME))
    return _NAME + b": " + folded


def _join(fields: list[tuple[bytes, bytes]]) -> bytes:
    return b"; ".join(b"=".join(field) for field in fields)


@functools.lru_cache(maxsize=8)
def _rsa_key(pem: bytes) -> rsa.RSAPrivateKey:
    return _load_rsa(pem, source="the DKIM key")


def generate_private_key() -> bytes:
    """A new RSA 2048 private key, PEM (PKCS#1 ``RSA PRIVATE KEY``, unencrypted)."""
    return _pkcs1(rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS))


def _pkcs1(key: rsa.RSAPrivateKey) -> bytes:
    # dkimpy reads RFC 8017 RSAPrivateKey (PKCS#1) PEM only.
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def txt_value(private_key: bytes) -> str:
    """The DNS TXT value for the public half of ``private_key``: ``v=DKIM1; k=rsa; p=…``."""
    key = _load_rsa(private_key, source="the key")
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode("ascii")


def dns_record(selector: str, domain: str, private_key: bytes) -> str:
    """The zone-file line to publish: the value cut into 255-byte strings."""
    value = txt_value(private_key)
    chunks = " ".join(f'"{value[i : i + TXT_CHUNK]}"' for i in range(0, len(value), TXT_CHUNK))
    return f"{selector}._domainkey.{domain}. IN TXT ( {chunks} )"


def write_private_key(path: Path, private_key: bytes, *, overwrite: bool = False) -> None:
    """Write the key readable by its owner only (0600, set at creation: never world-readable
    for an instant). An existing file is kept unless ``overwrite``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path}: a DKIM key is already there (--force replaces it)") from None
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(private_key)


def signing_domain(settings: Settings) -> str:
    """``delivery.dkim.domain``, else the domain of the site's sender address."""
    domain = settings.delivery.dkim.domain or settings.sender.from_email.rpartition("@")[2]
    return domain.strip().lower().rstrip(".")


def load_signer(settings: Settings) -> DkimSigner | None:
    """The signer ``delivery.dkim`` describes, or ``None`` when no selector is configured."""
    config = settings.delivery.dkim
    if not config.selector:
        return None
    secret = settings.secrets.dkim_private_key
    if secret:
        pem, source = secret.encode("utf-8"), "NEWSLETTER_DKIM_PRIVATE_KEY"
    elif config.key_file is not None:
        path = settings.path(config.key_file)
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"delivery.dkim.key_file: cannot read {path}: {exc}") from None
        source = str(path)
    else:
        raise ConfigError(
            "delivery.dkim.selector is set but neither delivery.dkim.key_file nor "
            "NEWSLETTER_DKIM_PRIVATE_KEY gives the key (newsletter dkim keygen makes one)"
        )
    pem = _pkcs1(_load_rsa(pem, source=source))  # a PKCS#8 key works too
    domain = signing_domain(settings)
    if not domain.isascii() or not domain:
        raise ConfigError(f"delivery.dkim.domain: {domain!r} is not an ASCII domain name")
    return DkimSigner(selector=config.selector, domain=domain, private_key=pem)


def _load_rsa(pem: bytes, *, source: str) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise ConfigError(f"{source}: not an unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(f"{source}: not an RSA key (DKIM keys here are RSA 2048)")
    return key
