"""Who the VM-action steps are, on Azure: the credential azure-native itself would use.

The azure-native provider reads its credentials from its provider config
(`azure-native:clientId`, ...) and, for each key left unset, from an `ARM_*` environment
variable (pulumi/pulumi-azure-native `provider/pkg/provider/auth_azidentity.go`,
`readAuthConfig`). It then uses the first configured method, with no fall-through:
DefaultAzureCredential (if asked), client certificate, client secret, OIDC, managed
identity, and the Azure CLI last. This module applies the same table and order with
azure-identity, so the step runs as whoever runs the rest of the deployment.

For GitHub OIDC it prefers the token *request* (ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN) over
a static token: a GitHub ID token lives 5 minutes and an Entra access token about one
hour, and a Windows build can take longer than both. `ClientAssertionCredential` calls
its callback for every new Entra token, so each refresh mints a fresh GitHub token.

Runs in the dynamic provider host: imports nothing from this project but its bundle
(vmimage/providers/bundle.py), and azure-identity lazily.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: azure-native config key -> environment variable read when the key is unset.
CONFIG_ENV: dict[str, tuple[str, ...]] = {
    "clientId": ("ARM_CLIENT_ID",),
    "tenantId": ("ARM_TENANT_ID",),
    "subscriptionId": ("ARM_SUBSCRIPTION_ID",),
    "clientSecret": ("ARM_CLIENT_SECRET",),
    "clientCertificatePath": ("ARM_CLIENT_CERTIFICATE_PATH",),
    "clientCertificatePassword": ("ARM_CLIENT_CERTIFICATE_PASSWORD",),
    "useMsi": ("ARM_USE_MSI",),
    "useOidc": ("ARM_USE_OIDC",),
    "oidcAudience": ("ARM_OIDC_AUDIENCE",),
    "oidcToken": ("ARM_OIDC_TOKEN",),
    "oidcTokenFilePath": ("ARM_OIDC_TOKEN_FILE_PATH",),
    "oidcRequestToken": ("ACTIONS_ID_TOKEN_REQUEST_TOKEN",),
    "oidcRequestUrl": ("ACTIONS_ID_TOKEN_REQUEST_URL",),
    "useDefaultAzureCredential": ("ARM_USE_DEFAULT_AZURE_CREDENTIAL",),
    "environment": ("ARM_ENVIRONMENT", "AZURE_ENVIRONMENT"),
}
DEFAULT_OIDC_AUDIENCE = "api://AzureADTokenExchange"
#: Settings azure-native takes as booleans, and those that are credentials (kept secret).
FLAGS = ("useMsi", "useOidc", "useDefaultAzureCredential")
SECRETS = ("clientSecret", "clientCertificatePassword", "oidcToken", "oidcRequestToken")

#: azure-native:environment -> (azure-core cloud name, Entra authority host).
CLOUDS = {
    "public": ("AZURE_PUBLIC_CLOUD", "login.microsoftonline.com"),
    "usgovernment": ("AZURE_US_GOVERNMENT", "login.microsoftonline.us"),
    "china": ("AZURE_CHINA_CLOUD", "login.chinacloudapi.cn"),
}


class AuthError(Exception):
    """No usable credential; the message says which method was chosen and what is missing."""


@dataclass(frozen=True)
class AuthSettings:
    """The azure-native credential settings, resolved (config first, then environment)."""

    values: Mapping[str, str]

    def get(self, key: str) -> str | None:
        value = self.values.get(key)
        return value or None

    def flag(self, key: str) -> bool:
        return (self.get(key) or "").strip().lower() == "true"

    @property
    def environment(self) -> str:
        return (self.get("environment") or "public").lower()

    @property
    def method(self) -> str:
        """Which method azure-native would pick, in its order (first configured wins)."""
        if self.flag("useDefaultAzureCredential"):
            return "default"
        if self.get("clientCertificatePath"):
            return "certificate"
        if self.get("clientSecret"):
            return "secret"
        if self.flag("useOidc"):
            return "oidc"
        if self.flag("useMsi"):
            return "msi"
        return "cli"


def resolve_settings(config: Mapping[str, Any], env: Mapping[str, str]) -> AuthSettings:
    """azure-native's lookup: `azure-native:<key>` from the stack config, else its env var.
    `config` is what the engine hands a dynamic provider's Configure (full `ns:key` keys)."""
    values: dict[str, str] = {}
    for key, names in CONFIG_ENV.items():
        value = config.get(f"azure-native:{key}")
        if value in (None, ""):
            value = next((env[n] for n in names if env.get(n)), None)
        if value not in (None, ""):
            values[key] = str(value)
    return AuthSettings(values)


def provider_arguments(settings: AuthSettings) -> dict[str, str | bool]:
    """The settings as an explicit azure-native `Provider`'s arguments (snake_case): only
    the default provider reads the stack's `azure-native:*` config, so an explicit one is
    given it to sign in as the rest of the deployment does. Credentials stay plain here:
    the caller makes them Pulumi secrets."""
    return {argument_name(key): settings.flag(key) if key in FLAGS else value
            for key, value in settings.values.items() if value}


def argument_name(key: str) -> str:
    """`clientSecret` -> `client_secret`: a config key as the Provider's argument."""
    return re.sub(r"[A-Z]", lambda m: "_" + m.group().lower(), key)


def github_oidc_token(request_url: str, request_token: str, audience: str,
                      *, timeout_s: tuple[float, float] = (15.0, 25.0)) -> str:
    """A fresh GitHub Actions ID token for `audience` (the workflow's token request).
    `requests`, like azure-core, honours HTTPS_PROXY, NO_PROXY and REQUESTS_CA_BUNDLE."""
    import requests

    response = requests.get(request_url, params={"audience": audience}, timeout=timeout_s,
                            headers={"Authorization": f"Bearer {request_token}",
                                     "Accept": "application/json"})
    response.raise_for_status()
    return str(response.json()["value"])


def _require(settings: AuthSettings, method: str, *keys: str) -> list[str]:
    missing = [k for k in keys if not settings.get(k)]
    if missing:
        names = ", ".join(f"azure-native:{k} ({'/'.join(CONFIG_ENV[k])})" for k in missing)
        raise AuthError(f"{method} authentication needs {names}")
    return [str(settings.get(k)) for k in keys]


def oidc_assertion(settings: AuthSettings) -> tuple[Callable[[], str], str]:
    """The client assertion callback for OIDC, and how it is obtained (for messages)."""
    token = settings.get("oidcToken")
    if token:
        return (lambda: token), "a static OIDC token (ARM_OIDC_TOKEN; expires, never renewed)"
    path = settings.get("oidcTokenFilePath")
    if path:
        def from_file() -> str:
            with open(path, encoding="utf-8") as handle:  # re-read: the file may be renewed
                return handle.read().strip()
        return from_file, f"the OIDC token file {path}"
    url, request_token = settings.get("oidcRequestUrl"), settings.get("oidcRequestToken")
    if url and request_token:
        audience = settings.get("oidcAudience") or DEFAULT_OIDC_AUDIENCE
        return (lambda: github_oidc_token(url, request_token, audience),
                "a GitHub Actions ID token, requested anew for each Entra token")
    raise AuthError(
        "OIDC authentication (useOidc) needs azure-native:oidcToken (ARM_OIDC_TOKEN), "
        "oidcTokenFilePath (ARM_OIDC_TOKEN_FILE_PATH), or the workflow's token request "
        "(ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN: give the job "
        "`permissions: id-token: write`)")


def make_credential(settings: AuthSettings, **transport: Any) -> tuple[Any, str]:
    """(credential, description) for the method azure-native would use. `transport`
    (timeouts, retries) goes to the credential's own HTTP pipeline."""
    import azure.identity as identity

    if settings.environment not in CLOUDS:
        raise AuthError(f"unknown azure-native:environment {settings.environment!r}; "
                        f"expected one of {', '.join(CLOUDS)}")
    kwargs = {"authority": CLOUDS[settings.environment][1], **transport}
    method = settings.method
    if method == "default":
        return identity.DefaultAzureCredential(**kwargs), "DefaultAzureCredential"
    if method == "certificate":
        tenant, client, path = _require(settings, "certificate", "tenantId", "clientId",
                                        "clientCertificatePath")
        return identity.CertificateCredential(
            tenant, client, path, password=settings.get("clientCertificatePassword"),
            **kwargs), f"client certificate of {client}"
    if method == "secret":
        tenant, client, secret = _require(settings, "client secret", "tenantId", "clientId",
                                          "clientSecret")
        return identity.ClientSecretCredential(tenant, client, secret, **kwargs), \
            f"client secret of {client}"
    if method == "oidc":
        tenant, client = _require(settings, "OIDC", "tenantId", "clientId")
        assertion, how = oidc_assertion(settings)
        return identity.ClientAssertionCredential(tenant, client, assertion, **kwargs), \
            f"OIDC federation of {client} with {how}"
    if method == "msi":
        identity_id = settings.get("clientId")
        return identity.ManagedIdentityCredential(client_id=identity_id, **transport), \
            "managed identity" + (f" {identity_id}" if identity_id else "")
    return identity.AzureCliCredential(tenant_id=settings.get("tenantId") or ""), \
        "the Azure CLI's login (az login)"


def settings_from_environment(config: Mapping[str, Any] | None = None) -> AuthSettings:
    return resolve_settings(config or {}, os.environ)
