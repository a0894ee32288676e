"""Every Linux script the program sends, and every script in scripts/linux (the README's
example steps), run by bash in the sandbox of tests/sandbox.py: fakes for the system
commands, the script's absolute paths moved under a temporary root. PowerShell cannot be
installed on this machine (docs/azure-behaviours.md, "Guest scripts"): the Windows download
script is checked as text here, as the other .ps1 templates are in their own tests."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import sandbox

from vmimage.config import values
from vmimage.config.steps import file as file_kind
from vmimage.scripts.render import PROJECT_DIR, TEMPLATES_DIR, render

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")

#: Each Linux script and the tests here that run it. The seal (deprovision) is run in
#: tests/test_linux_seal.py; the format script's disk cases in tests/test_format_disks.py.
SCENARIOS = {
    "scripts/linux/harden-ssh.sh": "test_harden_ssh_*",
    "templates/linux/format-disks.sh.j2": "test_format_disks_*, tests/test_format_disks.py",
    "templates/linux/copy-file.sh.j2": "test_copy_file_*",
    "templates/linux/install-packages.sh.j2": "test_install_packages_*",
    "templates/linux/run-script.sh.j2": "test_run_script_*",
    "templates/linux/deprovision.sh.j2": "tests/test_linux_seal.py",
    "templates/linux/ansible.sh.j2": "tests/test_ansible_step.py",
}


def test_every_linux_script_has_a_sandbox_run() -> None:
    found = {str(p.relative_to(PROJECT_DIR)) for p in (PROJECT_DIR / "scripts/linux").iterdir()}
    found |= {str(p.relative_to(PROJECT_DIR)) for p in (TEMPLATES_DIR / "linux").glob("*.j2")}
    assert found == set(SCENARIOS)
    here = Path(__file__).read_text()
    for script, where in SCENARIOS.items():
        for name in where.split(", "):
            if name.startswith("tests/"):
                assert (PROJECT_DIR / name).is_file(), name
                assert Path(script).name in (PROJECT_DIR / name).read_text() or \
                    "SEAL_TEMPLATE" in (PROJECT_DIR / name).read_text(), name
            else:
                assert f"def {name.rstrip('*')}" in here, name


# -- scripts/linux/harden-ssh.sh ------------------------------------------------------------

HARDEN_SSH = (PROJECT_DIR / "scripts/linux/harden-ssh.sh").read_text()
SSH_PATHS = ("/etc/ssh", "/run/sshd")


@pytest.fixture
def ssh_guest(tmp_path: Path) -> Path:
    sandbox.make_guest(tmp_path, ("install", "sshd"))
    (tmp_path / "run").mkdir()
    return tmp_path


def test_harden_ssh_makes_the_privilege_separation_directory_before_sshd_t(
        ssh_guest: Path) -> None:
    assert not (ssh_guest / "run/sshd").exists()  # socket-activated ssh: no one connected
    code, output = sandbox.run(ssh_guest, HARDEN_SSH, SSH_PATHS)
    assert code == 0, output
    made = ssh_guest / "run/sshd"
    assert made.is_dir() and made.stat().st_mode & 0o777 == 0o755
    assert sandbox.calls(ssh_guest) == [
        "install -d -m 0755 /etc/ssh/sshd_config.d",
        "install -d -m 0755 -o root -g root /run/sshd",
        "sshd -t"]
    conf = (ssh_guest / "etc/ssh/sshd_config.d/50-vmimage.conf").read_text()
    assert "PasswordAuthentication no\n" in conf and "PermitRootLogin no\n" in conf


def test_harden_ssh_without_the_directory_step_fails_as_on_ubuntu_24_04(
        ssh_guest: Path) -> None:
    # The sandbox's sshd fails as the real one does: the step above is what passes it.
    old = "\n".join(line for line in HARDEN_SSH.splitlines() if "/run/sshd" not in line
                    or line.startswith("#"))
    code, output = sandbox.run(ssh_guest, old, SSH_PATHS)
    assert code == 255
    assert "Missing privilege separation directory: /run/sshd" in output


def test_harden_ssh_runs_again_where_the_directory_exists(ssh_guest: Path) -> None:
    (ssh_guest / "run/sshd").mkdir()
    assert sandbox.run(ssh_guest, HARDEN_SSH, SSH_PATHS)[0] == 0
    code, output = sandbox.run(ssh_guest, HARDEN_SSH, SSH_PATHS)
    assert code == 0, output


# -- templates/linux/format-disks.sh.j2: cloud-init and interrupted runs --------------------

FSTAB = "UUID=os-disk / ext4 defaults,discard 0 1\n"
#: What cloud-init's mounts module writes on Azure: the temporary disk, marked as its own.
CLOUD_LINE = "/dev/disk/cloud/azure_resource-part1\t/mnt\tauto\tdefaults,nofail," \
             "x-systemd.after=cloud-init.service,_netdev,comment=cloudconfig\t0\t2\n"
DISK_FAKES = ("blkid", "parted", "partprobe", "udevadm", "mkfs.ext4", "mkdir", "findmnt",
              "mount", "sleep", "systemctl", "cloud-init")
OURS = "UUID=uuid-sdc1 /data ext4 defaults,nofail,x-systemd.device-timeout=10s 0 2\n"


@pytest.fixture
def disk_guest(tmp_path: Path) -> Path:
    sandbox.make_guest(tmp_path, DISK_FAKES)
    (tmp_path / "dev/disk/azure/scsi1").mkdir(parents=True)
    (tmp_path / "dev/sdc").touch()
    (tmp_path / "dev/disk/azure/scsi1/lun0").symlink_to("../../../sdc")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/fstab").write_text(FSTAB)
    (tmp_path / "mounted").mkdir()
    return tmp_path


def format_disks(root: Path) -> tuple[int, str]:
    script = render("linux/format-disks.sh.j2", {"disks": ["0:ext4:/data:"]}, os="linux",
                    vm_name="vm1")
    return sandbox.run(root, script, ("/dev/disk/azure", "/etc/fstab"))


def test_format_disks_waits_for_cloud_init_before_it_touches_fstab(disk_guest: Path) -> None:
    # cloud-init's mounts module is still to write fstab when the script starts
    (disk_guest / "cloud-init.fstab").write_text(FSTAB + CLOUD_LINE)
    code, output = format_disks(disk_guest)
    assert code == 0, output
    made = sandbox.calls(disk_guest, "cloud-init", "parted", "mkfs.ext4", "mount")
    assert made[0] == "cloud-init status --wait"
    assert made[1:] == ["parted -s -a optimal /dev/sdc mklabel gpt mkpart vmimage-lun0 ext4 "
                        "0% 100%", "mkfs.ext4 -q /dev/sdc1", "mount /data"]
    # both lines kept: cloud-init's rewrite came before ours
    assert (disk_guest / "etc/fstab").read_text() == FSTAB + CLOUD_LINE + OURS


@pytest.mark.parametrize(("status", "code"), [(0, 0), (2, 0), (1, 1)])
def test_format_disks_goes_on_after_cloud_init_unless_it_failed(disk_guest: Path, status: int,
                                                               code: int) -> None:
    (disk_guest / "cloud-init.status").write_text(f"{status}\n")
    got, output = format_disks(disk_guest)
    assert got == code, output
    if code:
        assert f"cloud-init did not finish (cloud-init status --wait: exit {status})" in output
        assert sandbox.calls(disk_guest, "parted", "mkfs.ext4", "mount") == []
        assert (disk_guest / "etc/fstab").read_text() == FSTAB
    else:
        assert (disk_guest / "etc/fstab").read_text() == FSTAB + OURS


def test_format_disks_without_cloud_init_does_not_wait(disk_guest: Path) -> None:
    (disk_guest / "bin/cloud-init").unlink()
    code, output = format_disks(disk_guest)
    assert code == 0, output
    assert sandbox.calls(disk_guest, "cloud-init") == []
    assert (disk_guest / "etc/fstab").read_text() == FSTAB + OURS


@pytest.mark.parametrize(("left", "changes"), [
    # stopped after parted: the partition is formatted
    ({"sdc.PTTYPE": "gpt", "sdc1": "", "sdc1.PART_ENTRY_NAME": "vmimage-lun0"},
     ["mkfs.ext4 -q /dev/sdc1", "mount /data"]),
    # stopped after mkfs: the fstab line is added and the disk mounted, nothing formatted
    ({"sdc.PTTYPE": "gpt", "sdc1": "", "sdc1.PART_ENTRY_NAME": "vmimage-lun0",
      "sdc1.TYPE": "ext4", "sdc1.UUID": "uuid-sdc1"}, ["mount /data"]),
])
def test_format_disks_completes_an_interrupted_run(disk_guest: Path, left: dict[str, str],
                                                   changes: list[str]) -> None:
    for name, text in left.items():
        (disk_guest / "dev" / name).write_text(text + "\n" if text else "")
    (disk_guest / "dev/disk/azure/scsi1/lun0-part1").symlink_to("../../../sdc1")
    code, output = format_disks(disk_guest)
    assert code == 0, output
    assert sandbox.calls(disk_guest, "parted", "mkfs.ext4", "mount") == changes
    assert (disk_guest / "etc/fstab").read_text() == FSTAB + OURS


# -- templates/linux/copy-file.sh.j2: the host a token goes to ------------------------------

BLOB_BYTES = b"the tool\n"
BLOB_SHA = hashlib.sha256(BLOB_BYTES).hexdigest()
IDENTITY = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
            "Microsoft.ManagedIdentity/userAssignedIdentities/builder")
COPY_FAKES = ("curl", "mkdir")
DESTINATION = "/opt/app/tool.bin"


@pytest.fixture
def copy_guest(tmp_path: Path) -> Path:
    sandbox.make_guest(tmp_path, COPY_FAKES)
    (tmp_path / "blob.bin").write_bytes(BLOB_BYTES)
    return tmp_path


def copy_script(uri: str, *, token: bool) -> str:
    """The script as the config would have it, but for `uri`, which the config's own
    checks may have refused (as if they had been bypassed)."""
    options = file_kind.FileOptions(uri="https://acct.blob.core.windows.net/c/tool.bin",
                                    sha256=BLOB_SHA, destination=DESTINATION)
    variables = file_kind.variables(options, os="linux", identity=IDENTITY if token else None)
    assert bool(variables["token_url"]) == token
    return render(file_kind.TEMPLATES["linux"], {**variables, "uri": uri}, os="linux",
                  vm_name="vm1")


def test_copy_file_sends_the_token_to_a_blob_endpoint(copy_guest: Path) -> None:
    uri = "https://acct.blob.core.windows.net/c/tool.bin"
    code, output = sandbox.run(copy_guest, copy_script(uri, token=True), ("/opt/app",))
    assert code == 0, output
    assert (copy_guest / "opt/app/tool.bin").read_bytes() == BLOB_BYTES
    imds, download = sandbox.calls(copy_guest, "curl")
    assert "http://169.254.169.254/metadata/identity/oauth2/token?" in imds
    assert "--noproxy *" in imds
    assert download.endswith(f"-- {uri}")
    assert " --proto =https --proto-redir =https " in download
    assert " -L" not in download and "L " not in download.split(" ", 2)[1]  # no redirects
    assert (copy_guest / "curl.stdin").read_text() == \
        'header = "Authorization: Bearer TOKEN-1234"\n'
    assert "TOKEN-1234" not in "\n".join(sandbox.calls(copy_guest))  # never an argument


@pytest.mark.parametrize("uri", [
    "https://evil.example\\@acct.blob.core.windows.net/c/tool.bin",    # .NET: host evil.example
    "https://evil.example\\.blob.core.windows.net/c/tool.bin",
    "https://user:pw@acct.blob.core.windows.net/c/tool.bin",           # user info
    "https://evil.example@acct.blob.core.windows.net/c/tool.bin",
    "https://acct.blob.core.windows.net.evil.example/c/tool.bin",      # look-alike suffix
    "https://acctblob.core.windows.net/c/tool.bin",
    "https://acct.blob.core.windows.ne\u0442/c/tool.bin",               # Cyrillic te
    "https://acct.blob.core.windows.net:8443/c/tool.bin",              # another port
    "http://acct.blob.core.windows.net/c/tool.bin",                    # not https
    "https://acct.blob.core.windows.net#@evil.example/c",
    "https://evil.example/acct.blob.core.windows.net/c/tool.bin",
    "https://.blob.core.windows.net/c/tool.bin",
])
def test_copy_file_refuses_a_host_that_is_not_a_blob_endpoint_and_sends_no_token(
        copy_guest: Path, uri: str) -> None:
    code, output = sandbox.run(copy_guest, copy_script(uri, token=True), ("/opt/app",))
    assert code == 1, output
    assert "refusing to" in output
    assert sandbox.calls(copy_guest, "curl") == []  # no token asked for, nothing sent
    assert not (copy_guest / "curl.stdin").exists()
    assert not (copy_guest / "opt/app/tool.bin").exists()


def test_copy_file_downloads_anonymously_from_any_plain_https_host(copy_guest: Path) -> None:
    uri = "https://downloads.example.org/tool.bin?v=1.2"
    code, output = sandbox.run(copy_guest, copy_script(uri, token=False), ("/opt/app",))
    assert code == 0, output
    (download,) = sandbox.calls(copy_guest, "curl")
    assert "Bearer" not in download and not (copy_guest / "curl.stdin").exists()
    assert (copy_guest / "opt/app/tool.bin").read_bytes() == BLOB_BYTES


def test_copy_file_refuses_a_wrong_download_and_keeps_the_destination(
        copy_guest: Path) -> None:
    (copy_guest / "blob.bin").write_bytes(b"something else")
    code, output = sandbox.run(
        copy_guest, copy_script("https://acct.blob.core.windows.net/c/tool.bin", token=True),
        ("/opt/app",))
    assert code == 1 and "not written" in output
    assert not (copy_guest / "opt/app/tool.bin").exists()


def test_copy_file_windows_parses_with_dotnet_before_it_asks_for_a_token() -> None:
    options = file_kind.FileOptions(uri="https://acct.blob.core.windows.net/c/tool.zip",
                                    sha256=BLOB_SHA, destination="C:\\tools\\tool.zip")
    script = file_kind.render_script(options, os="windows", vm_name="vm1", identity=IDENTITY)
    checks = ["[Uri]::TryCreate($uri, [UriKind]::Absolute, [ref] $parsed)",
              "$parsed.Scheme -ne 'https'", "$parsed.UserInfo", "-not $parsed.IsDefaultPort",
              "$blobHostSuffixes = @('.blob.core.windows.net', '.blob.core.usgovcloudapi.net', "
              "'.blob.core.chinacloudapi.cn')",
              "$parsed.Host.ToLowerInvariant()",
              "Uri = $parsed.AbsoluteUri", "$request.MaximumRedirection = 0"]
    at = [script.index(check) for check in checks]
    assert at[:6] == sorted(at[:6])
    token = script.index("Invoke-RestMethod")
    assert max(at[:6]) < token < script.index("Invoke-WebRequest @request")
    assert "refusing to send the identity's token" in script
    # The suffixes are the one Python constant's, not the template's own.
    assert file_kind.BLOB_HOST_SUFFIXES == values.BLOB_HOST_SUFFIXES
    for template in file_kind.TEMPLATES.values():
        assert "blob.core.windows.net" not in (TEMPLATES_DIR / template).read_text()


# -- templates/linux/install-packages.sh.j2 ------------------------------------------------


@pytest.fixture
def apt_guest(tmp_path: Path) -> Path:
    sandbox.make_guest(tmp_path, ("apt-get", "cloud-init", "sleep"))
    return tmp_path


def install_packages(root: Path) -> tuple[int, str]:
    script = render("linux/install-packages.sh.j2", {"packages": ["nginx", "jq=1.7"]},
                    os="linux", vm_name="vm1")
    return sandbox.run(root, script)


def test_install_packages_waits_for_cloud_init_then_updates_and_installs(
        apt_guest: Path) -> None:
    code, output = install_packages(apt_guest)
    assert code == 0, output
    assert sandbox.calls(apt_guest) == [
        "cloud-init status --wait",
        "apt-get -o DPkg::Lock::Timeout=600 update -q",
        "apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends -- nginx "
        "jq=1.7"]


def test_install_packages_stops_when_cloud_init_failed(apt_guest: Path) -> None:
    (apt_guest / "cloud-init.status").write_text("1\n")
    code, output = install_packages(apt_guest)
    assert code == 1 and "cloud-init did not finish" in output
    assert sandbox.calls(apt_guest, "apt-get") == []


# -- templates/linux/run-script.sh.j2 ------------------------------------------------------


def test_run_script_runs_the_text_as_root_would_and_stops_at_the_first_failure(
        tmp_path: Path) -> None:
    sandbox.make_guest(tmp_path, ())
    script = render("linux/run-script.sh.j2",
                    {"script": "echo one > /opt/marker\nfalse\necho two >> /opt/marker"},
                    os="linux", vm_name="vm1")
    (tmp_path / "opt").mkdir()
    code, output = sandbox.run(tmp_path, script, ("/opt/marker",))
    assert code == 1, output
    assert (tmp_path / "opt/marker").read_text() == "one\n"  # set -e: nothing after false
