#!/usr/bin/env bash
# Builds build/autonous_VERSION_ARCH.deb from a release build: `make deb` runs it (README, "Install").
#
# Usage: scripts/build-deb.sh BIN_DIR [MANUAL]
#   BIN_DIR  the release products (built with --static-swift-stdlib, so no Swift runtime library is needed)
#   MANUAL   autonousctl's man page from generate-manual
# Environment: DEB_OUTPUT (the directory for the .deb, default build/), DEB_LINTIAN=no (skip lintian),
# DEB_COMPRESSION (dpkg-deb's -Z: xz by default, none for a quick check), DEB_MAINTAINER (default: the author of
# HEAD, as git has it),
# DEB_ALLOW_TOOLCHAIN_LIBS=yes (for scripts/check-install.sh on a debug build: libraries of no Debian package,
# the Swift runtime's, are left out of Depends instead of failing the build).
# The tree is scripts/install.sh's with PREFIX=/usr and the systemd paths of a distribution package, no install
# manifest (dpkg tracks the files) and the environment example also as the conffile /etc/autonous/autonous.env.
# Depends is read off the binaries with ldd and dpkg -S. The maintainer scripts create the user and the
# directories and reload systemd; they never enable or start the service.
set -euo pipefail

bin_dir=${1:?usage: scripts/build-deb.sh BIN_DIR [MANUAL]}
manual=${2:-}
root=$(cd "$(dirname "$0")/.." && pwd)
say() { printf 'deb: %s\n' "$*" >&2; }

version=$("$bin_dir/autonousctl" --version)
arch=$(dpkg --print-architecture)
name=autonous_${version}_${arch}
output=${DEB_OUTPUT:-$root/build}
tree=$output/$name
mkdir -p "$output"
rm -rf "$tree" "$output/$name.deb"
mkdir -p "$tree/DEBIAN"

conffile=
[[ ! -f ${SYSTEMD_SOURCE:-$root/systemd}/autonous.env.example ]] || conffile=/etc/autonous/autonous.env
DESTDIR=$tree PREFIX=/usr UNITDIR=/usr/lib/systemd/system SYSUSERSDIR=/usr/lib/sysusers.d \
    TMPFILESDIR=/usr/lib/tmpfiles.d ZSHCOMPDIR=/usr/share/zsh/vendor-completions MANIFEST= MANUAL=$manual \
    CONFFILE=$conffile "$root/scripts/install.sh" "$bin_dir"
[[ -z $conffile ]] || { chmod 0640 "$tree$conffile"; echo "$conffile" >"$tree/DEBIAN/conffiles"; }

# Debug symbols stay in the build: the package ships stripped executables.
for binary in "$tree"/usr/bin/*; do
    strip --strip-unneeded --remove-section=.comment --remove-section=.note "$binary"
done

maintainer=${DEB_MAINTAINER:-$(git -C "$root" log -1 --format='%an <%ae>')}
year=$(date -u -d "@$(git -C "$root" log -1 --format=%ct)" +%Y)
doc=$tree/usr/share/doc/autonous
cat >"$doc/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: autonous
Comment: Built from the autonous source repository; its source is shipped in /usr/share/autonous/source
 (a git repository) for the daemon's self-updates.

Files: *
Copyright: $year the autonous authors
License: none-stated
 The source repository states no license.
EOF
# A native package (no Debian revision): changelog.gz, not changelog.Debian.gz.
printf 'autonous (%s) unstable; urgency=medium\n\n  * Built from commit %s.\n\n -- %s  %s\n' \
    "$version" "$(git -C "$root" rev-parse --short HEAD)" "$maintainer" \
    "$(date -R -u -d "@$(git -C "$root" log -1 --format=%ct)")" | gzip -9n >"$doc/changelog.gz"
# autonous-sandbox is a static executable on purpose (Package.swift: no loader to map at every launch).
mkdir -p "$tree/usr/share/lintian/overrides"
echo 'autonous: statically-linked-binary [usr/bin/autonous-sandbox]' >"$tree/usr/share/lintian/overrides/autonous"
# The environment file may be given secrets (OPENAI_API_KEY): not world-readable.
[[ -z $conffile ]] || echo "autonous: non-standard-file-perm 0640 != 0644 [${conffile#/}]" \
    >>"$tree/usr/share/lintian/overrides/autonous"
chmod 0644 "$doc/copyright" "$doc/changelog.gz" "$tree/usr/share/lintian/overrides/autonous"

# Depends: the Debian package of every shared library an executable names (DT_NEEDED, as dpkg-shlibdeps reads
# them; ldd would add their own dependencies), at least the version installed here.
needed_libraries() {
    local binary name
    for binary in "$@"; do
        for name in $(readelf -d "$binary" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
            ldd "$binary" | awk -v name="$name" '$1 == name && $3 ~ /^\// { print $3 }'
        done
    done
}
declare -A owners=()
while read -r library; do
    package=$(dpkg -S "$library" 2>/dev/null | head -n1 | cut -d: -f1) || true
    if [[ -z $package ]]; then
        package=$(dpkg -S "$(readlink -f "$library")" 2>/dev/null | head -n1 | cut -d: -f1) || true
    fi
    if [[ -z $package && ${DEB_ALLOW_TOOLCHAIN_LIBS:-} == yes ]]; then
        say "warning: $library belongs to no Debian package; left out of Depends"
        continue
    fi
    [[ -n $package ]] || { say "$library belongs to no Debian package: the deb cannot depend on it"; exit 1; }
    owners[$package]=1
done < <(needed_libraries "$tree"/usr/bin/* | sort -u)
depends=()
for package in $(printf '%s\n' "${!owners[@]}" | sort); do
    upstream=$(dpkg-query -W -f '${Version}' "$package" | sed -e 's/-[^-]*$//')
    depends+=("$package (>= $upstream)")
done
depends+=(git systemd)

installed_size=$(du -sk --exclude=DEBIAN "$tree" | cut -f1)
cat >"$tree/DEBIAN/control" <<EOF
Package: autonous
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_size
Depends: $(
    IFS=,
    echo "${depends[*]}" | sed 's/,/, /g'
)
Section: admin
Priority: optional
Description: self-hosted AI agent daemon with sandboxed, self-updating workers
 autonous is an always-on AI agent for one Linux host: people chat with it on
 Telegram, it answers with an OpenAI-compatible model and uses tools on a
 workspace inside a sandbox (namespaces, seccomp, cgroups). It can propose
 patches to its own code, which are built, tested and deployed under watch
 once an admin approves them.
 .
 This package installs the supervisor, worker, sandbox launcher and
 autonousctl, the systemd units and the source the self-updates start from.
 It never starts the service: systemctl enable --now autonous.
EOF

cat >"$tree/DEBIAN/postinst" <<'EOF'
#!/bin/sh
# Creates the autonous user and its directories, and tells systemd about the units. Never starts the service.
set -e
if [ "$1" = configure ]; then
    if [ -e /usr/lib/sysusers.d/autonous.conf ] && command -v systemd-sysusers >/dev/null; then
        systemd-sysusers autonous.conf
    fi
    if [ -e /usr/lib/tmpfiles.d/autonous.conf ] && command -v systemd-tmpfiles >/dev/null; then
        systemd-tmpfiles --create autonous.conf || true
    fi
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload || true
    fi
fi
exit 0
EOF
cat >"$tree/DEBIAN/prerm" <<'EOF'
#!/bin/sh
# Stops the service only when the package is removed (an upgrade restarts nothing by itself).
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
    deb-systemd-invoke stop autonous.service 'autonous@*.service' >/dev/null || true
fi
exit 0
EOF
cat >"$tree/DEBIAN/postrm" <<'EOF'
#!/bin/sh
# Purge removes /etc/autonous; the state in /var/lib/autonous is kept (remove it by hand, after a backup).
set -e
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
fi
if [ "$1" = purge ]; then
    rm -rf /etc/autonous
fi
exit 0
EOF
chmod 0755 "$tree/DEBIAN/postinst" "$tree/DEBIAN/prerm" "$tree/DEBIAN/postrm"

dpkg-deb --build --root-owner-group -Z"${DEB_COMPRESSION:-xz}" "$tree" "$output/$name.deb" >/dev/null
rm -rf "$tree"
say "built $output/$name.deb ($(du -h "$output/$name.deb" | cut -f1))"
if [[ ${DEB_LINTIAN:-} != no ]] && command -v lintian >/dev/null; then
    lintian --fail-on error "$output/$name.deb" || { say "lintian found errors"; exit 1; }
fi
