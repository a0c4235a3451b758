#!/usr/bin/env bash
# Prints a man page (roff) for autonous-sandbox made from its own usage text (`autonous-sandbox --help`), so the
# page says what the binary says. It has no swift-argument-parser command for generate-manual to read.
#
# Usage: scripts/man-from-usage.sh PATH_TO_AUTONOUS_SANDBOX
set -euo pipefail

binary=${1:?usage: scripts/man-from-usage.sh PATH_TO_AUTONOUS_SANDBOX}
version=$("$(dirname "$binary")/autonousctl" --version 2>/dev/null || echo unknown)
cat <<PAGE
.TH AUTONOUS-SANDBOX 1 "" "autonous $version" "autonous"
.SH NAME
autonous-sandbox \\- run a command in autonous's sandbox (namespaces, cgroup limits, seccomp)
.SH SYNOPSIS
.nf
PAGE
"$binary" --help | sed -e 's/\\/\\e/g' -e 's/^\./\\\&./' -e "s/^'/\\\\\\&'/"
cat <<'PAGE'
.fi
.SH DESCRIPTION
A small single-threaded launcher, like bubblewrap: it reads a profile, sets up user, mount, pid, uts, ipc,
cgroup and (for tiers without network) network namespaces, binds the workspace, applies cgroup and rlimit limits,
drops every capability, sets no_new_privs, loads a seccomp filter last and executes the command.
The supervisor runs the worker under it, and the worker runs every command tool under it.
.PP
\fBautonous-sandbox --check\fR (or \fBautonousctl doctor\fR) tells what this host supports.
.SH SEE ALSO
.BR autonousctl (1),
.BR autonous-supervisord (1),
.BR autonous-worker (1);
the README in /usr/share/doc/autonous or the source repository.
PAGE
