"""Secrets in stack files, opened as the Pulumi CLI opens them with the passphrase secrets
provider, so an offline plan uses the values `pulumi preview` would.

The algorithm (pulumi/pulumi `sdk/go/common/resource/config/crypt.go`,
`pkg/secrets/passphrase/manager.go`): the key is PBKDF2-HMAC-SHA256 of the passphrase
over the stack's 8-byte salt, 1,000,000 iterations, 32 bytes. `encryptionsalt` is
`v1:<salt>:<the encryption of "pulumi">`, which tells a wrong passphrase; a value is
`secure: v1:<12-byte nonce>:<AES-256-GCM ciphertext and tag>`, base64 with padding. The
passphrase comes from PULUMI_CONFIG_PASSPHRASE, else the (whitespace-trimmed) file named by
PULUMI_CONFIG_PASSPHRASE_FILE.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ITERATIONS = 1_000_000
KNOWN_PLAINTEXT = "pulumi"


class PassphraseError(Exception):
    """The secrets cannot be opened; the message says what to do."""


def derive_key(passphrase: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", passphrase.encode("utf-8"), salt, ITERATIONS, 32)


def encrypt(key: bytes, plaintext: str, nonce: bytes | None = None) -> str:
    nonce = nonce or os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, plaintext.encode("utf-8"), None)
    return f"v1:{base64.b64encode(nonce).decode()}:{base64.b64encode(sealed).decode()}"


def decrypt(key: bytes, value: str) -> str:
    parts = value.split(":")
    if len(parts) != 3 or parts[0] != "v1":
        raise PassphraseError(f"not a Pulumi secret value: {value[:12]}...")
    try:
        nonce, sealed = base64.b64decode(parts[1]), base64.b64decode(parts[2])
        return AESGCM(key).decrypt(nonce, sealed, None).decode("utf-8")
    except (binascii.Error, InvalidTag, ValueError):
        raise PassphraseError("a secret value does not decrypt with this passphrase "
                              "(was it written for another stack?)") from None


def new_encryption_salt(passphrase: str, salt: bytes | None = None) -> tuple[str, bytes]:
    """An `encryptionsalt` as `pulumi stack init` writes it, and its key."""
    salt = salt or os.urandom(8)
    key = derive_key(passphrase, salt)
    return f"v1:{base64.b64encode(salt).decode()}:{encrypt(key, KNOWN_PLAINTEXT)}", key


def passphrase_from(env: Mapping[str, str]) -> str | None:
    if "PULUMI_CONFIG_PASSPHRASE" in env:  # set, even empty, as the CLI reads it
        return env["PULUMI_CONFIG_PASSPHRASE"]
    path = env.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise PassphraseError(f"PULUMI_CONFIG_PASSPHRASE_FILE {path}: cannot read "
                                  f"({exc.strerror})") from None
    return None


def key_for(encryption_salt: str, env: Mapping[str, str]) -> bytes:
    """The stack's key, checked against the salt's known plaintext."""
    passphrase = passphrase_from(env)
    if passphrase is None:
        raise PassphraseError(
            "the stack's secrets are encrypted with a passphrase: set "
            "PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE, as for `pulumi up`")
    parts = encryption_salt.split(":", 2)
    if len(parts) != 3 or parts[0] != "v1":
        raise PassphraseError("encryptionsalt is not a Pulumi passphrase salt")
    try:
        salt = base64.b64decode(parts[1])
    except binascii.Error:
        raise PassphraseError("encryptionsalt is not a Pulumi passphrase salt") from None
    key = derive_key(passphrase, salt)
    try:
        if decrypt(key, parts[2]) != KNOWN_PLAINTEXT:
            raise PassphraseError("incorrect passphrase")
    except PassphraseError:
        raise PassphraseError("incorrect passphrase (PULUMI_CONFIG_PASSPHRASE or "
                              "PULUMI_CONFIG_PASSPHRASE_FILE)") from None
    return key
