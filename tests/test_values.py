"""Each typed value of vmimage/config/values.py fed directly: what it accepts, what it
refuses and why, and (with hypothesis) that no string outside its language gets in."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from vmimage.azure import arm_ids
from vmimage.config import values
from vmimage.config.credentials import credential_in, redact, signed_parameters

BLOB = "https://stvmimage.blob.core.windows.net/artifacts/agent.tgz"
SUB = "00000000-0000-0000-0000-00000000c0de"
IDENTITY = (f"/subscriptions/{SUB}/resourceGroups/rg-id/providers/"
            "Microsoft.ManagedIdentity/userAssignedIdentities/id-builder")


def refusal(type_: object, text: str) -> str:
    """The messages the config's author reads (errors.py shows `msg`, not the input)."""
    with pytest.raises(ValidationError) as raised:
        TypeAdapter(type_).validate_python(text)
    return "\n".join(e["msg"] for e in raised.value.errors())


# -- https URIs ----------------------------------------------------------------------------


def test_a_uri_is_parsed_once_and_knows_its_parts() -> None:
    uri = values.parse_https_uri(BLOB)
    assert (uri, uri.host, uri.path, uri.query, uri.port) == (
        BLOB, "stvmimage.blob.core.windows.net", "/artifacts/agent.tgz", "", None)
    assert uri.is_blob and uri.account == "stvmimage"
    assert not values.parse_https_uri("https://blob.core.windows.net.evil.example/x").is_blob
    assert values.parse_https_uri("https://a.blob.core.chinacloudapi.cn/c/x").is_blob


@pytest.mark.parametrize(("text", "why"), [
    ("https://a.example\\@stvmimage.blob.core.windows.net/x", "a backslash"),
    ("https://u@stvmimage.blob.core.windows.net/x", "user information"),
    ("https://stvmimage%2eblob.core.windows.net/x", "a percent-escape"),
    ("https://xn--80ak6aa92e.com/x", "punycode"),
    ("https://аpple.com/x", "U+0430"),
    ("https://10.0.0.1/x", "an IP address"),
    ("https://[fe80::1]/x", "an IP literal"),
    ("https://example.com:8443/x", "no port"),
    ("http://example.com/x", "only https"),
    ("https://example.com/x#y", "fragment"),
    ("https://example.com/a/%2E%2e/b", "'..' segments"),
    ("https://localhost/x", "not a host name"),
    ("https://example.com/a b", "a space"),
])
def test_the_authority_is_read_strictly(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=re.escape(why)):
        values.parse_https_uri(text)


@pytest.mark.parametrize("query", [
    "sig=c2VjcmV0c2VjcmV0", "%73ig=c2VjcmV0c2VjcmV0", "%2573IG=c2VjcmV0c2VjcmV0",
    "X-Amz-Signature=c2VjcmV0c2VjcmV0", "x-amz-credential=c2VjcmV0c2VjcmV0",
    "AWSAccessKeyId=AKIDEXAMPLE&Signature=c2VjcmV0c2VjcmV0",
    "X-Goog-Signature=c2VjcmV0c2VjcmV0", "token=c2VjcmV0c2VjcmV0", "code=c2VjcmV0c2VjcmV0",
    "api_key=c2VjcmV0c2VjcmV0", "PassWord=c2VjcmV0c2VjcmV0", "a=1&KEY=c2VjcmV0c2VjcmV0",
])
def test_secret_parameters_are_found_after_decoding_and_never_echoed(query: str) -> None:
    message = refusal(values.DownloadUri, f"{BLOB}?{query}")
    assert "holds a credential" in message
    assert "c2VjcmV0c2VjcmV0" not in message and "?<redacted>" in message


def test_a_query_is_refused_unless_the_use_allows_it() -> None:
    assert values.parse_https_uri(f"{BLOB}?version=2", query=True).query == "version=2"
    assert "no query string" in refusal(
        values.VhdUri, "https://st1.blob.core.windows.net/vhds/os.vhd?snapshot=1")


@pytest.mark.parametrize("text", [
    "https://st1.blob.core.windows.net.evil.com/vhds/os.vhd",
    "https://st1.file.core.windows.net/vhds/os.vhd",
    "https://st1.blob.core.windows.net/vhds/os.vhdx",
    "https://st1.blob.core.windows.net/os.vhd",
    "https://ST1.blob.core.windows.net/VHDS/os.vhd",
])
def test_a_vhd_is_a_page_blob_of_an_azure_storage_account(text: str) -> None:
    assert ".vhd page blob" in refusal(values.VhdUri, text)


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_whatever_a_uri_parses_to_its_host_is_all_any_parser_sees(junk: str) -> None:
    """Any text glued into the authority is refused, or is a plain host name whose text
    is exactly what lies between https:// and the path."""
    text = f"https://{junk}.blob.core.windows.net/c/x"
    try:
        uri = values.parse_https_uri(text)
    except ValueError as exc:
        tail = text.partition("?")[2]
        assert len(tail) < 8 or tail not in str(exc)  # a query is never echoed
        return
    assert re.fullmatch(r"[a-z0-9.-]+", uri.host)
    assert text.lower().startswith(f"https://{uri.host}/")
    assert "\\" not in text and "@" not in text and "%" not in uri.host


# -- ARM ids -------------------------------------------------------------------------------


def test_an_arm_id_knows_its_parts_and_compares_case_insensitively() -> None:
    parsed = arm_ids.parse(IDENTITY, "user-assigned identity")
    assert (parsed.subscription, parsed.resource_group, parsed.names) == (
        SUB, "rg-id", ("id-builder",))
    assert parsed == IDENTITY.upper().replace("SUBSCRIPTIONS", "subscriptions")
    assert len({parsed, arm_ids.parse(IDENTITY.lower(), "user-assigned identity")}) == 1
    assert values.repeated((IDENTITY, IDENTITY.lower(), "other")) == [(1, 0)]


@pytest.mark.parametrize(("text", "why"), [
    (IDENTITY.replace(SUB, "-" * 36), "is not a GUID"),
    (IDENTITY.replace(SUB, "g" * 8 + SUB[8:]), "is not a GUID"),
    (IDENTITY.replace("rg-id", ".."), "is not a group name"),
    (IDENTITY.replace("rg-id", ""), "is not a group name"),
    (IDENTITY.replace("rg-id", "rg."), "is not a group name"),
    (IDENTITY.replace("id-builder", ".."), "is not a resource name"),
    (IDENTITY.replace("id-builder", "a..b"), "is not a resource name"),
    (IDENTITY + "/x", "is not the ARM id"),
    (IDENTITY.replace("userAssignedIdentities", "diskEncryptionSets"), "is not the ARM id"),
    (IDENTITY.replace("id-builder", "іd"), "is not the ARM id"),
])
def test_every_segment_of_an_arm_id_is_checked(text: str, why: str) -> None:
    assert why in refusal(values.IdentityId, text)


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_no_segment_of_a_parsed_id_holds_a_slash_or_a_dot_pair(segment: str) -> None:
    try:
        parsed = arm_ids.parse(IDENTITY.replace("id-builder", segment), "user-assigned identity")
    except ValueError:
        return
    for part in (parsed.resource_group, *parsed.names):
        assert "/" not in part and ".." not in part and part.isascii()


# -- mount paths ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/data", "/srv/app", "/var/lib/docker", "/var/log/app",
                                  "/home/data", "/opt/app", "/datastore/x.1"])
def test_data_homes_are_allowed(path: str) -> None:
    assert TypeAdapter(values.MountPathValue).validate_python(path) == path


@pytest.mark.parametrize("path", [
    "/", "/etc", "/etc/ssh", "/boot/efi", "/usr/local", "/bin", "/sbin", "/lib", "/lib64",
    "/libx32/a", "/proc", "/sys/fs", "/dev/shm", "/run/user", "/root", "/var/lib/waagent",
    "/var/lib/cloud/instance", "/var/lib/dpkg", "/var/lib/apt", "/var/lib/rpm",
    "/var/lib/systemd", "/var", "/var/lib", "/var/log", "/home", "/tmp", "/mnt",
    "/mnt/resource", "/mnt/x", "/opt/microsoft", "/etc/", "//etc", "/data/../etc",
    "/./etc", "etc", "/dаta", "/da ta",
])
def test_system_trees_and_odd_spellings_are_refused(path: str) -> None:
    with pytest.raises(ValueError):
        values.parse_mount_path(path)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["etc", "boot", "usr", "lib64", "var", "lib", "waagent",
                                 "data", "mnt", "..", ".", "", "srv", "app"]),
                min_size=1, max_size=5))
def test_no_accepted_mount_path_resolves_into_a_system_tree(parts: list[str]) -> None:
    path = "/" + "/".join(parts)
    try:
        parsed = values.parse_mount_path(path)
    except ValueError:
        return
    assert ".." not in parsed.parts and "" not in parsed.parts
    assert not any(values.under(parsed, tree) for tree in values.SYSTEM_TREES)
    assert parsed not in values.SYSTEM_DIRECTORIES and not parsed.parts[0].startswith("lib")


def test_mounts_overlap_when_one_is_under_the_other() -> None:
    data = values.parse_mount_path("/data")
    assert data.overlaps("/data/logs") and data.overlaps("/data")
    assert not data.overlaps("/database")


# -- small names ---------------------------------------------------------------------------


@pytest.mark.parametrize(("type_", "good", "bad"), [
    (values.DriveLetter, ["E", "z"], ["C", "D", "EF", "", "Ё"]),
    (values.Label, ["", "data_1", "a" * 16], ["a" * 17, "x;y", "däta", "a b"]),
    (values.KbId, ["KB5034439", "KB1234"], ["KB", "kb5034439", "KB1", "KB5034439x", "5034439"]),
    # Azure Storage's container rules: 3-63, lowercase letters, digits, single hyphens
    # inside (learn "Naming and Referencing Containers, Blobs, and Metadata").
    (values.ContainerName, ["vhds", "abc", "a-b-c", "0exports", "a" * 63],
     ["ab", "a" * 64, "Vhds", "-vhds", "vhds-", "v--hds", "v_hds", "v.hds", "vhds\n",
      "vhds/x", "vhd s", "vhdѕ", "$root", ""]),
])
def test_small_names(type_: object, good: list[str], bad: list[str]) -> None:
    adapter = TypeAdapter(type_)
    for text in good:
        assert adapter.validate_python(text) == text
    for text in bad:
        with pytest.raises(ValidationError):
            adapter.validate_python(text)


# -- tags ----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [
    "vmimage-role", "VMIMAGE-role", "vmımage-role", "vmіmage-role", "vmⅰmage-role",
    "ｖｍｉｍａｇｅ-role", "vmimage_role", "vmimage‐role", "VMİMAGE-role", "vm\u00ADimage-role",
])
def test_keys_that_read_as_the_program_s_are_reserved(key: str) -> None:
    assert values.reads_as_reserved(key)


@pytest.mark.parametrize("key", ["vmimagery", "image-role", "costCenter", "vm-image-role"])
def test_other_keys_are_the_user_s(key: str) -> None:
    assert not values.reads_as_reserved(key)


@pytest.mark.parametrize(("type_", "text", "why"), [
    (values.TagKey, "a/b", "holds none of"), (values.TagKey, "", "1-512"),
    (values.TagKey, "k" * 513, "1-512"), (values.TagKey, "a\u200bb", "invisible"),
    (values.TagValue, "v" * 257, "at most 256"), (values.TagValue, "a\nb", "control"),
])
def test_azure_s_tag_rules(type_: object, text: str, why: str) -> None:
    assert why in refusal(type_, text)


# -- credentials ---------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "what"), [
    ("x?sv=1&sig=abc", "signed URL"), ("x?%53IG=abc", "signed URL"),
    ("DefaultEndpointsProtocol=https;AccountKey=abc", "connection string"),
    ("-----BEGIN RSA PRIVATE KEY-----", "private key"),
    ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlX2hlcmU", "JSON web token"),
    ("AKIAIOSFODNN7EXAMPLE", "AWS access key"), ("https://u:p4ss@h.example/", "password"),
    ("ghp_" + "a" * 36, "GitHub token"), ("A" * 86 + "==", "storage account key"),
])
def test_credentials_are_recognised_by_their_form(text: str, what: str) -> None:
    found = credential_in(text)
    assert found is not None and what in found


@pytest.mark.parametrize("text", [
    "apt-get install -y nginx", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG8eVohnH+7mb demo",
    "https://example.com/x?version=2&key_id=7", "echo $SIGNAL", "code --install-extension x"])
def test_ordinary_text_is_not_a_credential(text: str) -> None:
    assert credential_in(text) is None and signed_parameters(text) == []


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=8,
               max_size=30))
def test_redact_never_shows_a_query(secret: str) -> None:
    shown = redact(f"https://h.example/p?sig={secret}")
    assert shown == "https://h.example/p?<redacted>"


# -- durations -----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "days"), [("P90D", 90), ("P1D", 1), ("P12W", 84),
                                            ("P3650D", 3650), ("P0090D", 90)])
def test_a_duration_is_days_or_weeks(text: str, days: int) -> None:
    parsed = TypeAdapter(values.Duration).validate_python(text)
    assert parsed == text and isinstance(parsed, values.IsoDuration) and parsed.days == days


@pytest.mark.parametrize(("text", "why"), [
    ("P1Y", "days or weeks"), ("P3M", "days or weeks"), ("PT12H", "days or weeks"),
    ("-P90D", "days or weeks"), ("P90", "days or weeks"), ("90D", "days or weeks"),
    ("P1W2D", "days or weeks"), ("p90d", "days or weeks"), ("P90D\n", "days or weeks"),
    ("P\uff19\uff10D", "days or weeks"),  # fullwidth digits: \d would take them
    ("P\u0669\u0660D", "days or weeks"),  # Arabic-Indic digits
    ("P99999D", "1 to 3650 days"), ("P0D", "1 to 3650 days"), ("P600W", "1 to 3650 days"),
    ("P" + "9" * 4000 + "D", "days or weeks"),
])
def test_a_duration_refuses_what_it_does_not_read(text: str, why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        TypeAdapter(values.Duration).validate_python(text)
