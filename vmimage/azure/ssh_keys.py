"""OpenSSH public keys as Azure accepts them for Linux VMs: RSA of at least 2048 bits, or
Ed25519; "other key formats such as ECDSA are not supported" (learn.microsoft.com,
"Detailed steps: Create and manage SSH keys", supported SSH key formats). Read from the
key itself, not its label: the base64 blob says what the key is and how long."""

from __future__ import annotations

import base64
import binascii
import struct

SUPPORTED = ("ssh-rsa", "ssh-ed25519")
RSA_MIN_BITS = 2048


def _fields(blob: bytes) -> list[bytes]:
    """The length-prefixed strings of an SSH wire-format public key (RFC 4253, 6.6)."""
    fields, offset = [], 0
    while offset < len(blob):
        if offset + 4 > len(blob):
            raise ValueError("truncated")
        (length,) = struct.unpack(">I", blob[offset:offset + 4])
        offset += 4
        if offset + length > len(blob):
            raise ValueError("truncated")
        fields.append(blob[offset:offset + length])
        offset += length
    return fields


def key_problems(text: str) -> list[str]:
    """Why Azure would refuse this public key (empty: it would accept it)."""
    text = text.strip()
    if any(ord(c) < 32 or ord(c) == 127 for c in text if c != "\t"):
        # The key is written into authorized_keys: a line break would add a second key.
        return ["one key on one line expected; it holds a line break or another control "
                "character"]
    if not text.isascii():
        return ["an OpenSSH public key is ASCII; this one is not"]
    parts = text.split()
    if len(parts) < 2:
        return ["not an OpenSSH public key ('ssh-ed25519 AAAA... comment')"]
    kind, data = parts[0], parts[1]
    if kind not in SUPPORTED:
        if kind.startswith(("ecdsa-", "sk-")):
            return [f"{kind} keys are not supported by Azure; use ssh-ed25519 or ssh-rsa "
                    f"(at least {RSA_MIN_BITS} bits)"]
        return [f"unknown key type {kind!r}; Azure accepts {' or '.join(SUPPORTED)}"]
    try:
        fields = _fields(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError):
        return [f"the {kind} key data is not valid base64 key material"]
    if not fields or fields[0].decode(errors="replace") != kind:
        return [f"the key data is not an {kind} key (it says "
                f"{fields[0].decode(errors='replace') if fields else 'nothing'!r})"]
    if kind == "ssh-ed25519":
        if len(fields) != 2 or len(fields[1]) != 32:
            return ["the ssh-ed25519 key data is malformed (a 32-byte key expected)"]
        return []
    if len(fields) != 3:
        return ["the ssh-rsa key data is malformed (exponent and modulus expected)"]
    bits = int.from_bytes(fields[2], "big").bit_length()
    if bits < RSA_MIN_BITS:
        return [f"RSA key of {bits} bits; Azure needs at least {RSA_MIN_BITS} "
                "(or use ssh-ed25519)"]
    return []
