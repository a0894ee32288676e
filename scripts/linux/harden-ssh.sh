#!/usr/bin/env bash
# A plain script step (`- script: scripts/linux/harden-ssh.sh`): run as it is, as root, by
# a managed run command. Keys only, no root login: the image's clones inherit it.
set -euo pipefail
conf=/etc/ssh/sshd_config.d/50-vmimage.conf
install -d -m 0755 /etc/ssh/sshd_config.d
cat > "$conf" <<'SSHD'
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
SSHD
chmod 0644 "$conf"
# `sshd -t` stops at "Missing privilege separation directory: /run/sshd" when that
# directory is absent (openssh-portable sshd.c). Debian and Ubuntu create it only when
# ssh.service starts (RuntimeDirectory=sshd, RuntimeDirectoryMode=0755 in the openssh
# package's debian/systemd/ssh.service); with socket-activated ssh (Ubuntu 22.10 and later)
# no one may have connected since boot, so it is not there yet. Root's, mode 0755, as the
# unit would make it; systemd replaces it when the service starts.
install -d -m 0755 -o root -g root /run/sshd
sshd -t
