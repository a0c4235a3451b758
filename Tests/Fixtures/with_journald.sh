#!/usr/bin/env bash
# Runs a command next to a private systemd-journald and exports what it logged.
#
#   with_journald.sh OUTPUT.json COMMAND [ARGS...]
#
# Must run inside its own mount namespace (`unshare -m --propagation private`): it mounts tmpfs over
# /run/systemd, /run/log and /var/log/journal so the host's journal is neither read nor written, starts
# systemd-journald, runs COMMAND with the journal socket in place, stops journald and writes every entry as
# JSON lines to OUTPUT.json. Every wait is bounded.
set -euo pipefail
output=$1
shift
if [ "$(readlink /proc/self/ns/mnt)" = "$(readlink /proc/1/ns/mnt)" ]; then
    echo "with_journald.sh: refusing to run in the host's mount namespace" >&2
    exit 2
fi
for dir in /run/systemd /run/log /var/log/journal; do
    mkdir -p "$dir"
    mount -t tmpfs -o mode=0755 tmpfs "$dir"
done
mkdir -p /run/systemd/journal
/lib/systemd/systemd-journald &
journald=$!
for _ in $(seq 100); do
    [ -S /run/systemd/journal/socket ] && break
    sleep 0.05
done
status=0
"$@" || status=$?
sleep 0.3
journalctl -D /run/log/journal -o json --no-pager > "$output" || true
kill "$journald" 2>/dev/null || true
wait "$journald" 2>/dev/null || true
exit "$status"
