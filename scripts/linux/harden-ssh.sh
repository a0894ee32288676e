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
sshd -t
