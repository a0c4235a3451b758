#!/usr/bin/env bash
# Checks `make install` / `make uninstall` / `make deb` without touching the host: run by `make check` (on the
# debug build it already has) and by `make install-check` (on the release build).
#
# Usage: scripts/check-install.sh BIN_DIR [MANUAL]
#   1. scripts/install.sh into a scratch DESTDIR with PREFIX=/usr: the expected paths are there, the units' and
#      the environment example's /usr/bin paths fit, the source is a git repository at the build's HEAD;
#   2. scripts/uninstall.sh with the same: nothing is left in DESTDIR;
#   3. the same with PREFIX=/opt/autonous: the units name /opt/autonous/bin;
#   4. scripts/build-deb.sh: the .deb holds the expected paths and maintainer scripts, and its binaries run.
# Prints one line per check and 'N passed, N failed' at the end; exit status 1 when one failed.
set -euo pipefail

bin_dir=${1:?usage: scripts/check-install.sh BIN_DIR [MANUAL]}
manual=${2:-}
root=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d /tmp/autonous-install-check.XXXXXX)
deb=
trap 'rm -rf "$scratch"; [[ -z $deb ]] || rm -f "$deb"' EXIT
passed=0 failed=0
check() {
    local what=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
        echo "ok      $what"
    else
        failed=$((failed + 1))
        echo "FAILED  $what"
    fi
}
empty() { [[ -z $(find "$1" -mindepth 1 -print -quit) ]]; }
all_exist() {
    local base=$1 path
    shift
    for path in "$@"; do [[ -e $base$path ]] || { echo "missing: $path" >&2; return 1; }; done
}

expected=(
    /usr/bin/autonous-supervisord /usr/bin/autonous-worker /usr/bin/autonous-sandbox /usr/bin/autonousctl
    /usr/share/man/man1/autonous-supervisord.1.gz /usr/share/man/man1/autonous-worker.1.gz
    /usr/share/man/man1/autonous-sandbox.1.gz /usr/share/doc/autonous/README.md
    /usr/share/autonous/source/HEAD
)
[[ -z $manual ]] || expected+=(/usr/share/man/man1/autonousctl.1.gz)
shopt -s nullglob
for unit in "$root"/systemd/*.service; do expected+=("/usr/lib/systemd/system/$(basename "$unit")"); done
[[ ! -f $root/systemd/autonous.sysusers.conf ]] || expected+=(/usr/lib/sysusers.d/autonous.conf)
[[ ! -f $root/systemd/autonous.tmpfiles.conf ]] || expected+=(/usr/lib/tmpfiles.d/autonous.conf)
[[ ! -f $root/systemd/autonous.env.example ]] || expected+=(/usr/share/doc/autonous/autonous.env.example)

# 1 and 2: PREFIX=/usr into a scratch DESTDIR, then out again.
destdir=$scratch/root
mkdir "$destdir"
started=$(date +%s%N)
DESTDIR=$destdir PREFIX=/usr MANUAL=$manual "$root/scripts/install.sh" "$bin_dir" 2>"$scratch/install.log" ||
    { cat "$scratch/install.log" >&2; exit 1; }
echo "install took $((($(date +%s%N) - started) / 1000000)) ms, $(du -sh "$destdir" | cut -f1)"
check "install puts the binaries, man pages, docs, units and source in place" all_exist "$destdir" "${expected[@]}" \
    /usr/share/bash-completion/completions/autonousctl /usr/share/zsh/site-functions/_autonousctl \
    /usr/share/fish/vendor_completions.d/autonousctl.fish /usr/share/autonous/install-manifest
check "the installed autonousctl runs" "$destdir/usr/bin/autonousctl" --version
check "the bash completion completes autonousctl's subcommands" grep -q backup \
    "$destdir/usr/share/bash-completion/completions/autonousctl"
check "the installed source is a git repository at the build's HEAD" test \
    "$(git -C "$destdir/usr/share/autonous/source" rev-parse HEAD)" = "$(git -C "$root" rev-parse HEAD)"
check "the installed source has no remote" test -z "$(git -C "$destdir/usr/share/autonous/source" remote)"
if [[ -d $root/.build/repositories ]]; then
    check "the installed source carries SwiftPM's dependency clones" test -d \
        "$destdir/usr/share/autonous/source/.build/repositories"
fi
check "nothing is installed outside PREFIX" test "$(ls "$destdir")" = usr
DESTDIR=$destdir PREFIX=/usr "$root/scripts/uninstall.sh" 2>"$scratch/uninstall.log"
check "uninstall leaves nothing behind" empty "$destdir"
find "$destdir" -mindepth 1 >&2

# 3: another PREFIX, with stand-ins for the systemd files (systemd/ may not have them all): the units and the
# environment example name its bin directory.
mkdir "$scratch/systemd" "$scratch/opt"
printf '[Service]\nExecStart=/usr/bin/autonous-supervisord\n' >"$scratch/systemd/autonous.service"
printf '[Service]\nExecStart=/usr/bin/autonous-supervisord\n' >"$scratch/systemd/autonous@.service"
printf 'u autonous - "autonous daemon" /var/lib/autonous\n' >"$scratch/systemd/autonous.sysusers.conf"
printf 'd /var/lib/autonous 0750 autonous autonous -\n' >"$scratch/systemd/autonous.tmpfiles.conf"
printf '# AUTONOUS_WORKER_BIN=/usr/bin/autonous-worker\n' >"$scratch/systemd/autonous.env.example"
SYSTEMD_SOURCE=$scratch/systemd DESTDIR=$scratch/opt PREFIX=/opt/autonous "$root/scripts/install.sh" "$bin_dir" \
    2>/dev/null
opt=$scratch/opt/opt/autonous
check "PREFIX=/opt/autonous: the units, sysusers, tmpfiles and env example are under it" all_exist "$opt" \
    /lib/systemd/system/autonous.service /lib/systemd/system/autonous@.service /lib/sysusers.d/autonous.conf \
    /lib/tmpfiles.d/autonous.conf /share/doc/autonous/autonous.env.example
check "PREFIX=/opt/autonous: the units and the env example name /opt/autonous/bin" bash -c \
    '! grep -q /usr/bin/ "$@" && grep -q /opt/autonous/bin/autonous-supervisord "$1"' _ \
    "$opt/lib/systemd/system/autonous.service" "$opt/lib/systemd/system/autonous@.service" \
    "$opt/share/doc/autonous/autonous.env.example"
DESTDIR=$scratch/opt PREFIX=/opt/autonous "$root/scripts/uninstall.sh" 2>/dev/null
check "uninstall with PREFIX=/opt/autonous leaves nothing behind" empty "$scratch/opt"

# 4: the .deb.
DEB_OUTPUT=$scratch DEB_LINTIAN=no DEB_COMPRESSION=none DEB_ALLOW_TOOLCHAIN_LIBS=yes "$root/scripts/build-deb.sh" "$bin_dir" "$manual" 2>"$scratch/deb.log" ||
    { cat "$scratch/deb.log" >&2; exit 1; }
deb=$(echo "$scratch"/autonous_*.deb)
echo "$(basename "$deb"): $(du -h "$deb" | cut -f1)"
dpkg-deb --contents "$deb" | awk '{ print $6 }' | sed 's|^\./|/|' >"$scratch/contents"
deb_paths() {
    local path
    for path in "$@"; do grep -qx -- "$path" "$scratch/contents" || { echo "not in the deb: $path" >&2; return 1; }; done
}
check "the deb holds the expected paths" deb_paths "${expected[@]}" /usr/share/doc/autonous/copyright \
    /usr/share/zsh/vendor-completions/_autonousctl /usr/share/bash-completion/completions/autonousctl
check "the deb has no install manifest and nothing under /usr/local or /var" \
    bash -c '! grep -E "^/(usr/local|var)/|install-manifest" "$1"' _ "$scratch/contents"
dpkg-deb --info "$deb" >"$scratch/info"
check "the deb has postinst, prerm and postrm" grep -q 'postinst' "$scratch/info"
check "the deb's control names Depends" grep -q '^ Depends: .*libsqlite3' "$scratch/info"
mkdir "$scratch/extract"
dpkg-deb --extract "$deb" "$scratch/extract"
check "the deb's autonousctl runs" "$scratch/extract/usr/bin/autonousctl" --version
dpkg-deb --ctrl-tarfile "$deb" | tar -x -O ./postinst >"$scratch/postinst"
check "postinst never enables or starts the service" bash -c '! grep -Eq "systemctl (enable|start|restart)" "$1"' \
    _ "$scratch/postinst"

echo "$passed passed, $failed failed"
((failed == 0))
