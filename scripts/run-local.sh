#!/usr/bin/env bash
# Builds autonous and runs the supervisor in the foreground, with every directory under ./.local/ instead of
# /var/lib, /run and /etc. Ctrl-C stops it (the supervisor stops its worker first).
#
#   .local/state/    AUTONOUS_STATE_DIR   (autonous.db, workspace/)
#   .local/run/      AUTONOUS_RUNTIME_DIR (control.sock, worker.sock); a directory under /tmp when the checkout's
#                    path is too long for a unix socket path
#   .local/etc/      AUTONOUS_CONFIG_DIR  (put an AUTONOUS.md here to replace the built-in system prompt)
#
# Anything you already exported wins: AUTONOUS_TELEGRAM_TOKEN, OPENAI_API_KEY, any AUTONOUS_* variable.
# Telegram is on only when a token is set. The runtime directory actually used is written to
# .local/runtime-dir, where `make chat` reads it.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
local_dir=$root/.local

swift build
bin=$(swift build --show-bin-path)

mkdir -p "$local_dir/state" "$local_dir/etc"

if [[ -n ${AUTONOUS_RUNTIME_DIR:-} ]]; then
    runtime_dir=$AUTONOUS_RUNTIME_DIR
else
    runtime_dir=$local_dir/run
    socket=$runtime_dir/control.sock
    socket_bytes=$(printf '%s' "$socket" | wc -c)
    # sockaddr_un.sun_path holds 108 bytes with the NUL; keep a margin.
    if ((socket_bytes > 100)); then
        previous=$(cat "$local_dir/runtime-dir" 2>/dev/null || true)
        if [[ $previous == /tmp/autonous-run.* && -d $previous && -O $previous ]]; then
            runtime_dir=$previous
        else
            runtime_dir=$(mktemp -d /tmp/autonous-run.XXXXXX)
        fi
        echo "run-local: $socket is $socket_bytes bytes, too long for a unix socket path;" >&2
        echo "run-local: using $runtime_dir for the sockets instead" >&2
    fi
fi
mkdir -p "$runtime_dir"
printf '%s\n' "$runtime_dir" >"$local_dir/runtime-dir"

export AUTONOUS_STATE_DIR=${AUTONOUS_STATE_DIR:-$local_dir/state}
export AUTONOUS_RUNTIME_DIR=$runtime_dir
export AUTONOUS_CONFIG_DIR=${AUTONOUS_CONFIG_DIR:-$local_dir/etc}
export AUTONOUS_WORKER_BIN=${AUTONOUS_WORKER_BIN:-$bin/autonous-worker}
# The source self-updates are made from: this checkout (its HEAD is the commit the worker above was built from,
# unless the checkout has changes no commit holds: then self-updates start from HEAD, without them).
if [[ -z ${AUTONOUS_SOURCE_REPO:-} ]] && git -C "$root" rev-parse --verify -q HEAD >/dev/null 2>&1; then
    export AUTONOUS_SOURCE_REPO=$root
    if [[ -n $(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null) ]]; then
        echo "run-local: the checkout has uncommitted changes; self-updates are made from HEAD without them" >&2
    fi
fi
# Self-updates build with no network: the supervisor copies this checkout's SwiftPM clones of the dependencies
# (.build/repositories, made by the build above) into its build cache when it seeds src/.
export AUTONOUS_LOG=${AUTONOUS_LOG:-stderr}
# The worker runs sandboxed; a developer's account has no delegated cgroup, so memory and pids limits fall back to
# rlimits unless the caller asks for strict limits.
if [ "$(id -u)" != 0 ]; then
    export AUTONOUS_SANDBOX_LIMITS=${AUTONOUS_SANDBOX_LIMITS:-best-effort}
fi

if [[ ${AUTONOUS_TELEGRAM:-auto} == off ]]; then
    telegram="off (AUTONOUS_TELEGRAM=off)"
elif [[ -n ${AUTONOUS_TELEGRAM_TOKEN:-} ]]; then
    telegram="on (allowed users: ${AUTONOUS_TELEGRAM_ALLOWED_USERS:-none set, so autonous will refuse to start})"
else
    telegram="off (no AUTONOUS_TELEGRAM_TOKEN)"
fi
if [[ -n ${OPENAI_API_KEY:-} || -n ${AUTONOUS_OPENAI_BASE_URL:-} ]]; then
    model="${AUTONOUS_MODEL:-gpt-4o-mini} at ${AUTONOUS_OPENAI_BASE_URL:-https://api.openai.com/v1}"
else
    model="not configured (set OPENAI_API_KEY or AUTONOUS_OPENAI_BASE_URL); it will answer with a setup hint"
fi

cat >&2 <<EOF
run-local: state in $AUTONOUS_STATE_DIR, sockets in $AUTONOUS_RUNTIME_DIR
run-local: telegram $telegram
run-local: model $model
run-local: self-updates from ${AUTONOUS_SOURCE_REPO:-nowhere (not a git checkout)}
Open a second terminal in $root and run: make chat
  (or: $bin/autonousctl chat --socket $AUTONOUS_RUNTIME_DIR/control.sock)
EOF

exec "$bin/autonous-supervisord"
