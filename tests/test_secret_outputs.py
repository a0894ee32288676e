"""No secret leaves as plain text: for each planted credential, no 8-character piece of it
appears in anything the offline CLI writes, whether the config is refused (the error
lines) or accepted with the secret kept a Pulumi secret (console, state file,
--report-json, --markdown)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import load_stack_dict, offline_cli, set_path

from offline.passphrase import encrypt, new_encryption_salt

PASSPHRASE = "a passphrase for the secret outputs test"
#: Credentials planted in config, by where they go.
PLANTED: list[tuple[str, str, Any]] = [
    ("sas", "Zm9vYmFyYmF6cXV4c2lnbmF0dXJl", lambda s: {"builds[0].customize[0]": {"file": {
        "uri": f"https://stvmimage.blob.core.windows.net/a/x.tgz?sv=2022-11-02&%73ig={s}",
        "sha256": "0" * 64, "destination": "/opt/x.tgz"}}}),
    ("s3", "AbCdEfGh1234567890s3sig", lambda s: {"builds[0].customize[0]": {"file": {
        "uri": f"https://b.s3.amazonaws.com/x?X-Amz-Credential=AKID&X-Amz-Signature={s}",
        "sha256": "0" * 64, "destination": "/opt/x.tgz"}}}),
    ("token", "t0kenValueThatIsLong", lambda s: {"builds[0].customize[0]": {"file": {
        "uri": f"https://downloads.example.com/x.tgz?token={s}", "sha256": "0" * 64,
        "destination": "/opt/x.tgz"}}}),
    ("userinfo", "hunter2hunter2pw", lambda s: {"builds[0].customize[0]": {"file": {
        "uri": f"https://deploy:{s}@downloads.example.com/x.tgz", "sha256": "0" * 64,
        "destination": "/opt/x.tgz"}}}),
    ("account-key", "c2VjcmV0a2V5c2VjcmV0a2V5", lambda s: {"builds[0].validate": [
        {"inline": f"echo 'AccountName=st;AccountKey={s}' > /etc/app.conf"}]}),
    ("jwt", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlc2ln", lambda s: {
        "clones[0].rollout": {"health": {"protocol": "http", "port": 80,
                                         "path": f"/healthz?access_token={s}"}}}),
    ("pem", "b3BlbnNzaC1rZXktdjEAAAAABG5vbmU", lambda s: {"builds[0].customize[0]": {
        "inline": f"-----BEGIN OPENSSH PRIVATE KEY-----\n{s}\n-----END OPENSSH PRIVATE KEY-----"
    }}),
    ("password-var", "Passw0rdInAVariable", lambda s: {"builds[0].customize[0]": {
        "template": "linux/install-packages.sh.j2",
        "vars": {"packages": ["nginx"], "password": s}}}),
    ("vhd-sas", "VmhkU2FzU2lnbmF0dXJl", lambda s: {"builds[0].from": {"vhd": {
        "uri": f"https://st1.blob.core.windows.net/vhds/os.vhd?SIG={s}",
        "storageAccountId": "/subscriptions/00000000-0000-0000-0000-00000000c0de/"
        "resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st1"}}}),
]


def pieces(secret: str, size: int = 8) -> set[str]:
    return {secret[i:i + size] for i in range(len(secret) - size + 1)}


def leaks(secret: str, texts: list[str]) -> list[str]:
    return sorted(p for p in pieces(secret) for text in texts if p in text)


def written(folder: Path) -> list[str]:
    return [p.read_text(encoding="utf-8", errors="replace") for p in folder.iterdir()
            if p.is_file() and not p.name.startswith("Pulumi.")]


def outputs_args(folder: Path) -> list[str]:
    return ["--state", str(folder / "state.json"), "--report-json",
            str(folder / "report.json"), "--markdown", str(folder / "plan.md")]


def stack_file(folder: Path, config: dict[str, Any], **top: Any) -> Path:
    path = folder / "Pulumi.secrets.yaml"
    path.write_text(yaml.safe_dump({**top, "config": config}, allow_unicode=True),
                    encoding="utf-8")
    return path


@pytest.mark.parametrize(("name", "secret", "attack"), PLANTED, ids=[p[0] for p in PLANTED])
def test_a_planted_credential_is_refused_without_a_piece_of_it(
        name: str, secret: str, attack: Any, tmp_path: Path) -> None:
    config = load_stack_dict("dev")
    for path, value in attack(secret).items():
        set_path(config["vmimage:pipeline"], path, value)
    code, lines, output = offline_cli("up", "--stack-file", str(stack_file(tmp_path, config)),
                                      *outputs_args(tmp_path))
    assert code == 2, output
    assert any("looks like a credential" in line or "holds a credential" in line
               for line in lines), output
    assert leaks(secret, [output, *written(tmp_path)]) == []


def test_an_accepted_secret_stays_secret_in_every_output(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    password = "Sup3r-Secret-Admin-Pa55word!"
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE)
    salt, key = new_encryption_salt(PASSPHRASE)
    config = load_stack_dict("win")
    config["vmimage:adminPassword"] = {"secure": encrypt(key, password)}
    code, _, output = offline_cli("up", "--stack-file",
                                  str(stack_file(tmp_path, config, encryptionsalt=salt)),
                                  *outputs_args(tmp_path))
    assert code == 0, output
    assert {"state.json", "report.json", "plan.md"} <= {p.name for p in tmp_path.iterdir()}
    files = written(tmp_path)
    assert leaks(password, [output, *files]) == []
