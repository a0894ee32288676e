"""What looks like a credential in config text, found without echoing it.

Config is committed, reviewed in PRs and printed in CI logs; a credential in it leaks
there, and again in the state, the report and the plan. So a value that looks like one is
refused (vmimage/config/validate.py scans the whole raw pipeline with `credential_scan`),
and every message says what was found and where, never the value itself: `redact`.

Query parameters are judged by their name after percent-decoding and case-folding, so
`%73ig=` is `sig=` and `X-AMZ-SIGNATURE` is `x-amz-signature`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

#: Query parameters that carry a signature or a credential themselves: an Azure SAS
#: (`sig`; learn.microsoft.com/rest/api/storageservices/create-service-sas "Signature"),
#: an S3 presigned URL (`X-Amz-Signature`, `X-Amz-Credential`, `X-Amz-Security-Token`;
#: docs.aws.amazon.com AmazonS3/latest/API/sigv4-query-string-auth.html; SigV2's
#: `Signature` with `AWSAccessKeyId`), a GCS signed URL (`X-Goog-Signature`,
#: `X-Goog-Credential`; cloud.google.com/storage/docs/access-control/signed-urls) and
#: OAuth bearer tokens in a URL (`access_token`, RFC 6750 section 2.3). Refused anywhere.
SIGNED_URL_PARAMETERS = frozenset({
    "sig", "x-amz-signature", "x-amz-credential", "x-amz-security-token", "signature",
    "awsaccesskeyid", "x-goog-signature", "x-goog-credential", "googleaccessid",
    "access_token", "id_token", "refresh_token", "client_secret",
})
#: Names that usually carry a secret too, but also ordinary values in free text: refused
#: in a URI the config gives as a URI (values.HttpsUri), not inside scripts.
SECRET_PARAMETERS = SIGNED_URL_PARAMETERS | frozenset({
    "token", "code", "password", "passwd", "pwd", "key", "api_key", "apikey", "api-key",
    "secret", "sas", "credential", "auth", "authorization",
})
#: Mapping keys whose value is a secret: never in plain config (a Pulumi secret instead).
SECRET_KEYS = re.compile(
    r"(?:admin)?(?:password|passwd|pwd|secret|clientsecret|apikey|accesskey|accountkey"
    r"|privatekey|token|accesstoken|sastoken|connectionstring)", re.IGNORECASE)

_QUERY_PARAMETER = re.compile(r"[?&;]([^=&?#\s\"'`]{1,64})=")
#: Credentials recognisable by their form, whatever key holds them.
_FORMS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a storage connection string key", re.compile(
        r"(?:AccountKey|SharedAccessKey|SharedAccessSignature)\s*=", re.IGNORECASE)),
    ("a password in a URL", re.compile(r"://[^/\s:@]+:[^/\s@]+@")),
    ("a private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")),
    ("a JSON web token", re.compile(
        r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    ("an AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b")),
    ("a storage account key", re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{86}==")),
)


def parameter_name(raw: str) -> str:
    """A query parameter's name as a server reads it: percent-decoded (twice, so a
    doubly-encoded name is caught), case-folded."""
    return unquote(unquote(raw)).casefold().strip()


def signed_parameters(text: str, names: frozenset[str] = SIGNED_URL_PARAMETERS) -> list[str]:
    """The credential-bearing query parameter names in `text` (decoded), in order."""
    found = [parameter_name(m.group(1)) for m in _QUERY_PARAMETER.finditer(text)]
    return list(dict.fromkeys(n for n in found if n in names))


def credential_in(text: str) -> str | None:
    """What credential `text` holds (in words), or None."""
    signed = signed_parameters(text)
    if signed:
        return f"a signed URL (query parameter {signed[0]!r})"
    for what, form in _FORMS:
        if form.search(text):
            return what
    return None


def redact(text: str) -> str:
    """A value for a message: its query cut off, and no more than its first characters
    when it may hold a credential elsewhere."""
    head, sep, _ = text.partition("?")
    head = re.sub(r"(://)[^/@]*@", r"\1<redacted>@", head)  # user information
    shown = head + ("?<redacted>" if sep else "")
    return shown if credential_in(head) is None else "<redacted>"


def credential_problem(path: str, what: str) -> str:
    """The line that refuses a credential at `path`, without its value."""
    return (f"{path}: looks like a credential ({what}), which would be kept in plain text "
            "in the stack file, the state, the report and the plan; use a managed identity, "
            "or a Pulumi secret (`pulumi config set --secret`), not plain config")


def credential_scan(data: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(key path, what) of every value in raw config that looks like a credential; a
    mapping key that names a secret (`password:`) with a text value counts too."""
    if isinstance(data, dict):
        for key, value in data.items():
            at = f"{path}.{key}" if path else str(key)
            if isinstance(value, str) and value and SECRET_KEYS.fullmatch(str(key)):
                yield at, f"a value under the secret-named key {key!r}"
            else:
                yield from credential_scan(value, at)
    elif isinstance(data, list | tuple):
        for i, item in enumerate(data):
            yield from credential_scan(item, f"{path}[{i}]")
    elif isinstance(data, str):
        what = credential_in(data)
        if what:
            yield path, what
