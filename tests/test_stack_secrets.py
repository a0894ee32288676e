"""Secrets in stack files: opened offline as the Pulumi CLI opens them with the passphrase
secrets provider (offline/passphrase.py), refused in plain text, and said plainly when a
stack uses a provider offline runs cannot open.

The fixtures are made as `pulumi stack init --secrets-provider passphrase` and `pulumi
config set --secret` make them: an `encryptionsalt` of `v1:<salt>:<"pulumi" encrypted>`
and `secure: v1:<nonce>:<ciphertext>` values, with the documented algorithm."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT
from rich.console import Console

from offline.cli import main
from offline.latency import LatencyModel
from offline.passphrase import PassphraseError, encrypt, key_for, new_encryption_salt
from offline.runner import load_stack
from offline.secrets import secret_paths, unwrap
from offline.up import up

PASSPHRASE = "correct horse battery staple"
PASSWORD = "Tr0ub4dor&3-not-generated"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"


@pytest.fixture(scope="module")
def salt_and_key() -> tuple[str, bytes]:
    return new_encryption_salt(PASSPHRASE)  # one key derivation for the module: it is slow


def stack_file(folder: Path, document: dict[str, Any]) -> Path:
    path = folder / "Pulumi.win.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def win_stack(salt: str | None, **config: Any) -> dict[str, Any]:
    document = yaml.safe_load((ROOT / "stacks" / "Pulumi.win.yaml").read_text())
    document["config"].update(config)
    return {"encryptionsalt": salt, **document} if salt else document


def cli(*argv: str) -> tuple[int, str]:
    buffer = io.StringIO()
    code = main(list(argv), console=Console(file=buffer, width=200))
    return code, buffer.getvalue()


def test_pulumi_s_own_fixtures_open_with_their_passphrases() -> None:
    """pulumi/pulumi pkg/secrets/passphrase tests: this salt is 'password''s; another
    passphrase is refused; the empty passphrase is a passphrase too."""
    salt = "v1:fozI5u6B030=:v1:F+6ZduKKd8G0/V7L:PGMFeIzwobWRKmEAzUdaQHqC5mMRIQ=="
    assert len(key_for(salt, {"PULUMI_CONFIG_PASSPHRASE": "password"})) == 32
    with pytest.raises(PassphraseError, match="incorrect passphrase"):
        key_for(salt, {"PULUMI_CONFIG_PASSPHRASE": "password123"})
    empty = "v1:LVuDkcjhUns=:v1:WPbL+tmbxnqWswQ2:lebZxStyHT3IZkmbN+3xCx9zqtoPog=="
    assert len(key_for(empty, {"PULUMI_CONFIG_PASSPHRASE": ""})) == 32


def test_a_secure_password_is_decrypted_and_used_not_generated(
        salt_and_key: tuple[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    salt, key = salt_and_key
    path = stack_file(tmp_path, win_stack(
        salt, **{"vmimage:adminPassword": {"secure": encrypt(key, PASSWORD)}}))
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE)
    stack = load_stack(path, "win")
    assert stack.config["vmimage:adminPassword"] == PASSWORD
    assert stack.secret_keys == ["vmimage:adminPassword"] and not stack.notices
    state = tmp_path / "state.json"
    outcome = up(stack, latency=LatencyModel(), state_path=state)
    assert not (outcome.run.failures or outcome.run.error), outcome.run.error
    types = [r.type for r in outcome.run.registrations]
    assert RANDOM_PASSWORD not in types, "a password was generated although one was given"
    vm = next(r for r in outcome.run.registrations
              if r.type == "azure-native:compute:VirtualMachine")
    assert "osProfile" in secret_paths(vm.inputs)  # still a secret, as it reaches Azure
    assert unwrap(vm.inputs)["osProfile"]["adminPassword"] == PASSWORD
    assert PASSWORD not in state.read_text() and PASSWORD not in json.dumps(outcome.run.outputs)


def test_passphrase_file_and_nested_secure_values(
        salt_and_key: tuple[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`pulumi config set --secret --path` puts secure values inside objects; the file's
    trailing newline is not part of the passphrase."""
    salt, key = salt_and_key
    document = win_stack(salt, **{"vmimage:adminPassword": {"secure": encrypt(key, PASSWORD)}})
    document["config"]["vmimage:notes"] = {"token": {"secure": encrypt(key, "t0ken")}, "n": 1}
    path = stack_file(tmp_path, document)
    (tmp_path / "pass").write_text(PASSPHRASE + "\n")
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE_FILE", str(tmp_path / "pass"))
    stack = load_stack(path, "win")
    assert stack.config["vmimage:notes"] == {"token": "t0ken", "n": 1}
    assert sorted(stack.secret_keys) == ["vmimage:adminPassword", "vmimage:notes"]


@pytest.mark.parametrize(("env", "message"), [
    ({"PULUMI_CONFIG_PASSPHRASE": "wrong"}, "incorrect passphrase"),
    ({}, "set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE"),
    ({"PULUMI_CONFIG_PASSPHRASE_FILE": "/nonexistent/pass"}, "cannot read"),
])
def test_a_stack_that_cannot_be_opened_exits_2(
        salt_and_key: tuple[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        env: dict[str, str], message: str,
) -> None:
    salt, key = salt_and_key
    path = stack_file(tmp_path, win_stack(
        salt, **{"vmimage:adminPassword": {"secure": encrypt(key, PASSWORD)}}))
    for name in ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, output = cli("up", "--stack-file", str(path), "--quiet")
    assert code == 2 and message in output and "Traceback" not in output, output
    assert output.startswith("Pulumi.win.yaml: ")


def test_a_value_from_another_stack_is_refused(
        salt_and_key: tuple[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    salt, _ = salt_and_key
    other = bytes(32)  # another stack's key
    path = stack_file(tmp_path, win_stack(
        salt, **{"vmimage:adminPassword": {"secure": encrypt(other, PASSWORD)}}))
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE)
    code, output = cli("up", "--stack-file", str(path), "--quiet")
    assert code == 2 and "does not decrypt with this passphrase" in output


@pytest.mark.parametrize(("provider", "named"), [
    (None, "Pulumi Cloud (the default)"),
    ("awskms://alias/vmimage?region=eu-west-1", "awskms://alias/vmimage?region=eu-west-1"),
])
def test_other_providers_are_named_and_their_values_left_out(
        tmp_path: Path, provider: str | None, named: str) -> None:
    document = win_stack(None, **{"vmimage:adminPassword": {"secure": "AAABAKl0aGVyZQ=="}})
    if provider:
        document = {"secretsprovider": provider, **document}
    path = stack_file(tmp_path, document)
    code, output = cli("up", "--stack-file", str(path), "--quiet")
    assert code == 0, output
    note = next(line for line in output.splitlines() if line.startswith("note: "))
    assert named in note and "vmimage:adminPassword left out" in note
    assert "may differ from `pulumi preview`" in note
