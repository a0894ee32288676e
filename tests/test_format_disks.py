"""The data-disk scripts: their declared item patterns; the Linux script run by bash against
a faked /dev/disk/azure and /etc/fstab, with the disk tools stubbed (each stub logs how it
was called and keeps the fake disks' state in files beside them); the Windows script read
back as PowerShell reads its literals."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import pytest
import sandbox
from powershell_literals import powershell_strings

from vmimage.scripts.declarations import declaration_of
from vmimage.scripts.render import TEMPLATES_DIR, render

LINUX = "linux/format-disks.sh.j2"
WINDOWS = "windows/format-disks.ps1.j2"


def problems(template: str, disks: object) -> list[str]:
    declared = declaration_of(str(TEMPLATES_DIR), template)
    assert declared is not None
    return declared.problems({"disks": disks}, "vars")


# -- the declarations ---------------------------------------------------------------------


@pytest.mark.parametrize("item", [
    "0:ext4:/data:", "63:xfs:/var/lib/docker:docker", "7:ext4:/mnt/data-1/x_y.z:sixteen-chars-16",
    "10:xfs:/srv:twelve-chars", "0:ext4:/a...b:x",
])
def test_linux_items_accepted(item: str) -> None:
    assert problems(LINUX, [item]) == []


@pytest.mark.parametrize("item", [
    "0:btrfs:/data:x",                   # not ext4 or xfs
    "64:ext4:/data:x", "-1:ext4:/data:x", "00:ext4:/data:x", "x:ext4:/data:x",
    "0:EXT4:/data:x",
    "0:ext4:data:x",                     # relative
    "0:ext4:/:x",                        # the root itself
    "0:ext4:/data/:x", "0:ext4://data:x", "0:ext4:/data/../etc:x", "0:ext4:/data/./x:x",
    "0:ext4:/..:x", "0:ext4:/da ta:x", "0:ext4:/data;reboot:x", "0:ext4:/dätä:x",
    "0:ext4:/data:$(touch x)", "0:ext4:/data:`id`", "0:ext4:/data:a b", "0:ext4:/data:x;id",
    "0:ext4:/data:" + "x" * 17,         # ext4 labels: 16 at most
    "0:xfs:/data:thirteen-char",         # xfs labels: 12 at most
    "0:ext4:/data", "0:ext4:/data:x:y", "0:ext4:/data:x\n", "",
])
def test_linux_items_refused(item: str) -> None:
    found = problems(LINUX, [item])
    assert len(found) == 1 and found[0].startswith("vars.disks: item 0: "), found


def test_linux_list_bounds() -> None:
    assert problems(LINUX, []) == ["vars.disks: needs at least 1 item"]
    assert problems(LINUX, [f"{i}:ext4:/d{i}:" for i in range(64)]) == []
    assert problems(LINUX, [f"{i % 64}:ext4:/d{i}:" for i in range(65)]) == [
        "vars.disks: takes at most 64 items (got 65)"]
    assert problems(LINUX, "0:ext4:/data:") == [
        "vars.disks: expected a list of strings, got a string"]


@pytest.mark.parametrize("item", [
    "0:ntfs:F:Data", "63:ntfs:Z:", "1:ntfs:E:" + "x" * 32, "2:ntfs:G:logs_2-b"])
def test_windows_items_accepted(item: str) -> None:
    assert problems(WINDOWS, [item]) == []


@pytest.mark.parametrize("item", [
    "0:ntfs:C:x", "0:ntfs:D:x",          # the OS disk and the temporary disk
    "0:ntfs:A:x", "0:ntfs:f:x", "0:ntfs:FF:x", "0:ntfs:F::x", "0:ext4:F:x", "0:NTFS:F:x",
    "64:ntfs:F:x", "0:ntfs:F:" + "x" * 33, "0:ntfs:F:a b",
    "0:ntfs:F:x'; Write-Output PWNED #", "0:ntfs:F:$(Write-Output PWNED)", "0:ntfs:F",
])
def test_windows_items_refused(item: str) -> None:
    found = problems(WINDOWS, [item])
    assert len(found) == 1 and found[0].startswith("vars.disks: item 0: "), found


# -- the Linux script, run ----------------------------------------------------------------

#: The fakes this script meets (tests/sandbox.py).
DISK_FAKES = ("blkid", "parted", "sgdisk", "partprobe", "udevadm", "mkfs.ext4", "mkfs.xfs",
              "mkdir", "findmnt", "mount", "sleep")
FSTAB = "UUID=os-disk / ext4 defaults,discard 0 1\n"
#: The calls that change a disk, fstab or the mounts (the rest only look).
CHANGES = ("parted", "sgdisk", "mkfs.ext4", "mkfs.xfs", "mount")


@pytest.fixture
def guest(tmp_path: Path) -> Path:
    """A root with two SCSI data disks, at LUNs 0 and 1 (sdc and sdd), an fstab and fakes."""
    sandbox.make_guest(tmp_path, DISK_FAKES)
    scsi = tmp_path / "dev/disk/azure/scsi1"
    scsi.mkdir(parents=True)
    for lun, disk in ((0, "sdc"), (1, "sdd")):
        (tmp_path / "dev" / disk).touch()
        (scsi / f"lun{lun}").symlink_to(f"../../../{disk}")  # relative, as udev makes them
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/fstab").write_text(FSTAB)
    (tmp_path / "mounted").mkdir()
    return tmp_path


def run(root: Path, disks: list[str]) -> tuple[int, str]:
    script = render(LINUX, {"disks": disks}, os="linux", vm_name="vm-build-x")
    # The only paths outside the fakes, each set once, near the top.
    assert script.count("\nlinks=/dev/disk/azure\n") == 1
    assert script.count("\nfstab=/etc/fstab\n") == 1
    return sandbox.run(root, script, ("/dev/disk/azure", "/etc/fstab"))


calls = sandbox.calls


def fstab(root: Path) -> str:
    return (root / "etc/fstab").read_text()


needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
OPTIONS = "defaults,nofail,x-systemd.device-timeout=10s 0 2"


@needs_bash
def test_blank_disks_are_partitioned_formatted_and_mounted_in_order(guest: Path) -> None:
    code, output = run(guest, ["0:ext4:/data:data", "1:xfs:/srv/logs:"])
    assert code == 0, output
    assert calls(guest, "parted", "partprobe", "mkfs.ext4", "mkfs.xfs", "mkdir", "mount") == [
        "parted -s -a optimal /dev/sdc mklabel gpt mkpart vmimage-lun0 ext4 0% 100%",
        "partprobe /dev/sdc",
        "mkfs.ext4 -q -L data /dev/sdc1",
        "mkdir -p /data",
        "mount /data",  # the mount stub fails unless fstab has the line by then
        "parted -s -a optimal /dev/sdd mklabel gpt mkpart vmimage-lun1 xfs 0% 100%",
        "partprobe /dev/sdd",
        "mkfs.xfs -q /dev/sdd1",  # no label: no -L
        "mkdir -p /srv/logs",
        "mount /srv/logs",
    ]
    assert fstab(guest) == (FSTAB + f"UUID=uuid-sdc1 /data ext4 {OPTIONS}\n"
                            f"UUID=uuid-sdd1 /srv/logs xfs {OPTIONS}\n")
    assert (guest / "mounted/_data").read_text().replace(str(guest), "") == "/dev/sdc1\n"
    assert "LUN 0: ext4 UUID=uuid-sdc1" in output


@needs_bash
def test_a_second_run_changes_nothing(guest: Path) -> None:
    disks = ["0:ext4:/data:data", "1:xfs:/srv/logs:logs"]
    assert run(guest, disks)[0] == 0
    after_first = fstab(guest)
    (guest / "calls.log").unlink()
    code, output = run(guest, disks)
    assert code == 0, output
    assert calls(guest, *CHANGES) == []
    assert fstab(guest) == after_first
    assert after_first.count("UUID=uuid-sdc1 ") == 1


@needs_bash
def test_after_a_reboot_it_mounts_again_without_a_second_fstab_line(guest: Path) -> None:
    assert run(guest, ["0:ext4:/data:"])[0] == 0
    after_first = fstab(guest)
    (guest / "mounted/_data").unlink()
    (guest / "calls.log").unlink()
    code, output = run(guest, ["0:ext4:/data:"])
    assert code == 0, output
    assert calls(guest, *CHANGES) == ["mount /data"]
    assert fstab(guest) == after_first


@needs_bash
def test_a_missing_lun_fails_naming_it_before_anything_changes(guest: Path) -> None:
    code, output = run(guest, ["0:ext4:/data:", "5:ext4:/more:"])
    assert code == 1
    assert "no disk at LUN 5" in output and "is a data disk attached at LUN 5?" in output
    assert calls(guest, *CHANGES) == []  # LUN 0 comes first and is untouched all the same
    assert fstab(guest) == FSTAB
    # the wait is bounded
    assert 0 < len(calls(guest, "sleep")) <= 120


@needs_bash
def test_the_nvme_link_of_azure_vm_utils_is_used_too(guest: Path) -> None:
    by_lun = guest / "dev/disk/azure/data/by-lun"
    by_lun.mkdir(parents=True)
    (guest / "dev/nvme0n3").touch()
    (by_lun / "7").symlink_to("../../../../nvme0n3")
    code, output = run(guest, ["7:ext4:/data:"])
    assert code == 0, output
    assert calls(guest, "parted", "mkfs.ext4")[0].startswith("parted -s -a optimal /dev/nvme0n3 ")
    assert f"UUID=uuid-nvme0n31 /data ext4 {OPTIONS}\n" in fstab(guest)


@needs_bash
def test_sgdisk_partitions_where_parted_is_missing(guest: Path) -> None:
    for name in ("parted", "partprobe"):
        (guest / "bin" / name).unlink()
    code, output = run(guest, ["0:ext4:/data:x"])
    assert code == 0, output
    assert calls(guest, *CHANGES) == [
        "sgdisk --new=1:0:0 --typecode=1:8300 --change-name=1:vmimage-lun0 /dev/sdc",
        "mkfs.ext4 -q -L x /dev/sdc1", "mount /data"]


@needs_bash
def test_a_filesystem_already_on_the_disk_is_used_as_it_is(guest: Path) -> None:
    (guest / "dev/sdc.TYPE").write_text("ext4\n")
    (guest / "dev/sdc.UUID").write_text("made-elsewhere\n")
    code, output = run(guest, ["0:ext4:/data:x"])
    assert code == 0, output
    assert calls(guest, *CHANGES) == ["mount /data"]
    assert fstab(guest) == FSTAB + f"UUID=made-elsewhere /data ext4 {OPTIONS}\n"


@needs_bash
def test_a_partition_an_earlier_run_left_unformatted_is_formatted(guest: Path) -> None:
    (guest / "dev/sdc.PTTYPE").write_text("gpt\n")
    (guest / "dev/sdc1").touch()
    (guest / "dev/sdc1.PART_ENTRY_NAME").write_text("vmimage-lun0\n")
    code, output = run(guest, ["0:ext4:/data:"])
    assert code == 0, output
    assert calls(guest, *CHANGES) == ["mkfs.ext4 -q /dev/sdc1", "mount /data"]


@needs_bash
@pytest.mark.parametrize(("state", "message"), [
    ({"sdc.TYPE": "xfs"}, "LUN 0 holds xfs filesystem, not ext4; refusing to reformat it"),
    ({"sdc.PTTYPE": "gpt"}, "LUN 0 has a partition table but no first partition"),
    ({"sdc.PTTYPE": "gpt", "sdc1": "", "sdc1.PART_ENTRY_NAME": "Linux filesystem"},
     "was not made by this script; refusing to format it"),
    ({"sdc.PTTYPE": "dos", "sdc1": "", "sdc1.TYPE": "LVM2_member"},
     "LUN 0 holds LVM2_member filesystem, not ext4"),
])
def test_a_disk_holding_something_else_is_left_alone(guest: Path, state: dict[str, str],
                                                     message: str) -> None:
    for name, text in state.items():
        (guest / "dev" / name).write_text(text + "\n" if text else "")
    code, output = run(guest, ["0:ext4:/data:"])
    assert code == 1
    assert message in output
    assert calls(guest, *CHANGES) == []
    assert fstab(guest) == FSTAB


@needs_bash
@pytest.mark.parametrize(("line", "message"), [
    ("UUID=other /data xfs defaults 0 0", "already mounts UUID=other at /data"),
    ("UUID=uuid-sdc1 /elsewhere ext4 defaults 0 2", "mounts UUID=uuid-sdc1 at /elsewhere"),
])
def test_an_fstab_line_in_the_way_stops_the_mount(guest: Path, line: str, message: str) -> None:
    (guest / "etc/fstab").write_text(FSTAB + line)  # and no newline at the end
    code, output = run(guest, ["0:ext4:/data:"])
    assert code == 1
    assert message in output
    assert calls(guest, "mount") == []
    assert fstab(guest) == FSTAB + line


@needs_bash
def test_an_fstab_without_a_last_newline_gets_one(guest: Path) -> None:
    (guest / "etc/fstab").write_text(FSTAB.rstrip("\n"))
    code, output = run(guest, ["0:ext4:/data:"])
    assert code == 0, output
    assert fstab(guest) == FSTAB + f"UUID=uuid-sdc1 /data ext4 {OPTIONS}\n"


@needs_bash
@pytest.mark.parametrize(("disks", "message"), [
    (["0:ext4:/data:", "0:xfs:/other:"], "LUN 0 is listed twice"),
    (["0:ext4:/data:", "1:xfs:/data:"], "/data is listed twice"),
])
def test_duplicates_fail_before_anything_changes(guest: Path, disks: list[str],
                                                 message: str) -> None:
    code, output = run(guest, disks)
    assert code == 1 and message in output
    assert calls(guest, *CHANGES) == []


@needs_bash
@pytest.mark.parametrize("hostile", [
    "0:ext4:/data:$(echo>{root}/pwned)", "0:ext4:/data:`echo>{root}/pwned`",
    "0:ext4:/data;echo>{root}/pwned:x", "0:ext4:/data:x'; echo>{root}/pwned; '",
    "0:ext4:/data/../etc:x", "0:xfs:/data:thirteen-char", "0:ext4:/data:x\necho>{root}/pwned",
])
def test_a_hostile_item_is_refused_by_the_pattern_and_by_the_script(guest: Path,
                                                                    hostile: str) -> None:
    item = hostile.format(root=guest)
    assert problems(LINUX, [item]), item
    # Rendered all the same (as if config checks were bypassed): one quoted word, refused.
    script = render(LINUX, {"disks": [item]}, os="linux", vm_name="vm-build-x")
    assert f"\n  {shlex.quote(item)}\n)" in script
    code, output = run(guest, [item])
    assert code == 1
    assert "not LUN:FS:TARGET:LABEL" in output or "not a plain absolute path" in output \
        or "at most 12 characters" in output
    assert not (guest / "pwned").exists()
    assert calls(guest, *CHANGES) == []


# -- the Windows script, read back ------------------------------------------------------


def test_windows_items_are_each_one_powershell_literal() -> None:
    disks = ["0:ntfs:F:Data", "1:ntfs:G:", "12:ntfs:Z:logs_2-b"]
    script = render(WINDOWS, {"disks": disks}, os="windows", vm_name="vm-build-x")
    literals, code = powershell_strings(script)
    for item in disks:
        assert literals.count(item) == 1, item
    assert "vm-build-x" in literals
    # The script checks each item again with the very pattern of the declaration.
    declared = declaration_of(str(TEMPLATES_DIR), WINDOWS)
    assert declared is not None
    assert literals.count(declared.variables["disks"].pattern) == 1
    # what runs, not what a comment says
    assert "$ErrorActionPreference = <literal>" in code
    assert literals[0] == "Stop"
    for cmdlet in ("Initialize-Disk", "New-Partition", "Format-Volume", "Set-Partition",
                   "Get-Disk", "-PartitionStyle GPT", "-UseMaximumSize", "-DriveLetter"):
        assert cmdlet in code, cmdlet
    assert "NewFileSystemLabel" in code and "Confirm = $false" in code


@pytest.mark.parametrize("hostile", [
    "0:ntfs:F:x'; Write-Output PWNED #", "0:ntfs:F:x\u2019; Write-Output PWNED #",
    "0:ntfs:F:$(Write-Output PWNED)", "0:ntfs:F:x\n'; Write-Output PWNED"])
def test_a_hostile_windows_item_stays_one_literal(hostile: str) -> None:
    assert problems(WINDOWS, [hostile])
    harmless = render(WINDOWS, {"disks": ["0:ntfs:F:x"]}, os="windows", vm_name="vm1")
    script = render(WINDOWS, {"disks": [hostile]}, os="windows", vm_name="vm1")
    literals, code = powershell_strings(script)
    assert literals.count(hostile) == 1
    assert code == powershell_strings(harmless)[1]  # the code around it is unchanged


def test_windows_finds_disks_by_lun_beside_the_os_disks_adapter_and_never_on_nvme() -> None:
    script = render(WINDOWS, {"disks": ["0:ntfs:F:Data"]}, os="windows", vm_name="vm1")
    literals, code = powershell_strings(script)
    assert "$Matches[1] -ne <literal>" not in code  # no "adapter 0 is the OS disk's"
    finder = code[code.index("function Find-DataDisk"):
                  code.index("function Format-DataVolume")]
    assert "[int] $Matches[1] -ne $OsAdapter" in finder
    assert '"$($_.BusType)" -ne <literal>' in finder and "NVMe" in literals
    os_adapter = code[code.index("function Get-OsAdapter"):
                      code.index("function Find-DataDisk")]
    assert "$_.IsBoot" in os_adapter and '"$($os[0].BusType)" -eq <literal>' in os_adapter
    refusal = "".join(literals)
    assert "this VM has an NVMe disk controller, and Windows reports no LUN" in refusal
    assert "use a size with SCSI disks (v5 or older)" in refusal
    # the OS disk's adapter is known before any disk is looked for
    assert code.index("$osAdapter = Get-OsAdapter") < code.index("Find-DataDisk $entry.Lun")


def test_windows_completes_a_partition_an_earlier_run_left_without_ntfs() -> None:
    script = render(WINDOWS, {"disks": ["0:ntfs:F:Data"]}, os="windows", vm_name="vm1")
    _, code = powershell_strings(script)
    resume = code.index('if (-not $filesystem -and "$($partition.DriveLetter)" -eq '
                        '$entry.Letter)')
    refuse = code.index("if ($filesystem -ne <literal>)")
    assert resume < refuse
    assert "Format-DataVolume $entry $partition" in code[resume:refuse]
    assert "continue" in code[resume:refuse]
