"""A sandbox for running the Linux guest scripts in tests: bash with a PATH of fakes.

A guest is a temporary directory: `bin/` holds a few real tools (linked) and a fake for
every system command a script calls (each logs how it was called to `calls.log`, then plays
its part on files under the guest's root); the absolute paths a script touches (/etc/fstab,
/dev/disk/azure, /run/sshd, ...) are rewritten to the same paths under the root. A script
that starts to use a path the test did not name fails `run`, so a move cannot go unseen.

Why fakes and not loop devices: the format script mounts through fstab (`mount TARGET`),
and mount(8) reads the machine's own /etc/fstab, and the /dev/disk/azure links come from
udev rules this machine does not have: a loop-device run would edit and mount on the test
machine itself. The fakes keep each disk's state (partition table, filesystem, UUID) in
files beside it, as the real tools would leave it on the disk.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

#: Real tools the scripts and the fakes use; nothing else of this machine is on PATH.
TOOLS = ("bash", "awk", "cat", "ln", "readlink", "tail", "sed", "sha256sum", "mktemp",
         "chmod", "mv", "rm", "base64", "touch", "grep", "stat")

#: Each fake's body, after it has logged its call. $ROOT is the guest's root.
FAKES: dict[str, str] = {
    # -- disks (the state of dev/sdc is in dev/sdc.PTTYPE, dev/sdc1.TYPE, ...) --
    # blkid -p -o value -s TAG DEVICE
    "blkid": '[ -e "$6.$5" ] || exit 2\ncat "$6.$5"\n',
    # parted -s -a optimal DISK mklabel gpt mkpart NAME FS 0% 100%
    "parted": 'echo gpt > "$4.PTTYPE"\n: > "${4}1"\necho "$8" > "${4}1.PART_ENTRY_NAME"\n',
    # sgdisk --new=1:0:0 --typecode=1:8300 --change-name=1:NAME DISK
    "sgdisk": 'echo gpt > "$4.PTTYPE"\n: > "${4}1"\n'
              'echo "${3#--change-name=1:}" > "${4}1.PART_ENTRY_NAME"\n',
    "partprobe": "",
    # as udev does: a -part1 link beside each disk link whose disk has a first partition
    "udevadm": 'azure="$ROOT/dev/disk/azure"\n'
               'for link in "$azure"/scsi1/lun* "$azure"/data/by-lun/*; do\n'
               '  case $link in *-part1|*"*") continue ;; esac\n'
               '  disk=$(readlink -f "$link")\n'
               '  [ -e "${disk}1" ] && [ ! -e "$link-part1" ] || continue\n'
               '  ln -s "${disk}1" "$link-part1"\n'
               'done\n',
    "mkfs.ext4": 'dev=${@: -1}\necho ext4 > "$dev.TYPE"\necho "uuid-${dev##*/}" > "$dev.UUID"\n',
    "mkfs.xfs": 'dev=${@: -1}\necho xfs > "$dev.TYPE"\necho "uuid-${dev##*/}" > "$dev.UUID"\n',
    # findmnt -rn -o SOURCE --mountpoint TARGET: what the mount fake recorded
    "findmnt": 'm="$ROOT/mounted/${5//\\//_}"\n[ -e "$m" ] || exit 1\ncat "$m"\n',
    # mount TARGET: through the fake fstab's line, as mount(8) does
    "mount": 'uuid=$(awk -v t="$1" \'$2 == t { sub(/^UUID=/, "", $1); print $1 }\' \\\n'
             '  "$ROOT/etc/fstab")\n'
             '[ -n "$uuid" ] || { echo "mount: $1 is not in fstab" >&2; exit 32; }\n'
             'echo "$ROOT/dev/${uuid#uuid-}" > "$ROOT/mounted/${1//\\//_}"\n',
    "sleep": "",
    "systemctl": "",
    # -- cloud-init: `status --wait` ends when cloud-init is done. The exit code is in
    # cloud-init.status (0 when absent); cloud-init.fstab, when present, is what its mounts
    # module still had to write: as cc_mounts does, it rewrites fstab whole, from what it
    # read at its start (so it keeps only lines older than the wait).
    "cloud-init": 'if [ "$1 $2" = "status --wait" ]; then\n'
                  '  if [ -e "$ROOT/cloud-init.fstab" ]; then\n'
                  '    mv "$ROOT/cloud-init.fstab" "$ROOT/etc/fstab"\n'
                  '  fi\n'
                  '  exit "$(cat "$ROOT/cloud-init.status" 2>/dev/null || echo 0)"\n'
                  'fi\n',
    "apt-get": "",
    # -- sshd -t: as sshd.c does, it stops without its privilege separation directory
    "sshd": '[ -d "$ROOT/run/sshd" ] || {\n'
            '  echo "Missing privilege separation directory: /run/sshd" >&2; exit 255; }\n'
            'cat "$ROOT/etc/ssh/sshd_config.d/"*.conf > /dev/null\n',
    # install(1), less -o/-g (the tests may not run as root): the owner is in the log
    "install": 'args=()\nwhile [ $# -gt 0 ]; do\n'
               '  case $1 in -o|-g) shift 2 ;; *) args+=("$1"); shift ;; esac\n'
               'done\nexec "$REAL_INSTALL" "${args[@]}"\n',
    # mkdir: only under the guest's root (a mount target is not moved there)
    "mkdir": 'for arg in "$@"; do\n'
             '  case $arg in "$ROOT"/*) "$REAL_MKDIR" -p -- "$arg" ;; esac\n'
             'done\n',
    # -- curl: logs its arguments and what it read on stdin (a --config - header); IMDS
    # answers with a token, any https URL with the file blob.bin, written to -o.
    "curl": 'out= url=\n'
            'for arg in "$@"; do\n'
            '  case $prev in -o) out=$arg ;; esac\n'
            '  prev=$arg; url=$arg\n'
            'done\n'
            'for arg in "$@"; do [ "$arg" = "--config" ] && cat >> "$ROOT/curl.stdin"; done\n'
            'case $url in\n'
            '  http://169.254.169.254/*)\n'
            '    echo \'{"access_token":"TOKEN-1234","expires_in":"3599"}\' ;;\n'
            '  https://*) cat "$ROOT/blob.bin" > "$out" ;;\n'
            '  *) exit 1 ;;\n'
            'esac\n',
    "waagent": "",
    "systemd-run": "",
    "sync": "",
}


def make_guest(root: Path, fakes: Iterable[str]) -> Path:
    """A guest under `root` with the real TOOLS and the named FAKES on its PATH."""
    bin_dir = root / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        (bin_dir / tool).symlink_to(shutil.which(tool) or f"/bin/{tool}")
    for name in fakes:
        fake = bin_dir / name
        fake.write_text(f'#!/bin/bash\nROOT="{root}"\n'
                        f'echo "{name} $*" >> "$ROOT/calls.log"\n{FAKES[name]}')
        fake.chmod(0o755)
    return bin_dir


def rooted(script: str, root: Path, paths: Iterable[str]) -> str:
    """`script` with each of `paths` (absolute) moved under `root`; each must occur."""
    for path in paths:
        assert path in script, f"the script no longer uses {path}"
        script = script.replace(path, f"{root}{path}")
    return script


def run(root: Path, script: str, paths: Iterable[str] = (), *,
        env: Mapping[str, str] | None = None) -> tuple[int, str]:
    """Run `script` with bash in the guest at `root`: exit code, stdout and stderr."""
    path = root / "script.sh"
    path.write_text(rooted(script, root, paths))
    done = subprocess.run(
        ["bash", str(path)], capture_output=True, text=True, timeout=60, cwd=root,
        env={"PATH": str(root / "bin"), "HOME": str(root),
             "REAL_INSTALL": shutil.which("install") or "/usr/bin/install",
             "REAL_MKDIR": shutil.which("mkdir") or "/bin/mkdir", **(env or {})})
    return done.returncode, done.stdout + done.stderr


def calls(root: Path, *names: str) -> list[str]:
    """The fakes' calls, with the guest's root taken out of their paths; only `names` if
    given."""
    log = root / "calls.log"
    lines = log.read_text().replace(str(root), "").splitlines() if log.exists() else []
    return [line for line in lines if not names or line.split(" ", 1)[0] in names]
