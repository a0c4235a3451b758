#!/usr/bin/env bash
# Installs autonous from a release build: `make install` runs it (README, "Install").
#
# Usage: scripts/install.sh BIN_DIR
#   BIN_DIR  the release products (`swift build -c release --show-bin-path`)
# Environment (the Makefile passes them; all paths are as on the target system, DESTDIR is prepended):
#   DESTDIR, PREFIX, BINDIR, MANDIR, DOCDIR, UNITDIR, SYSUSERSDIR, TMPFILESDIR, BASHCOMPDIR, ZSHCOMPDIR,
#   FISHCOMPDIR, SOURCEDIR, MANIFEST (empty: no manifest, as for the .deb, whose files dpkg tracks),
#   MANUAL (the man page generate-manual made for autonousctl), CONFFILE (empty, or where the .deb puts the
#   environment file: /etc/autonous/autonous.env), SYSTEMD_SOURCE (default: systemd/ of this checkout).
#
# Every file and tree it installs, and every directory it creates, is listed in MANIFEST, so scripts/uninstall.sh
# removes exactly that. It never writes the state (/var/lib/autonous) nor /etc/autonous unless CONFFILE says so.
set -euo pipefail

bin_dir=${1:?usage: scripts/install.sh BIN_DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
systemd=${SYSTEMD_SOURCE:-$root/systemd}
: "${PREFIX:=/usr/local}" "${DESTDIR:=}"
: "${BINDIR:=$PREFIX/bin}" "${MANDIR:=$PREFIX/share/man/man1}" "${DOCDIR:=$PREFIX/share/doc/autonous}"
: "${UNITDIR:=$PREFIX/lib/systemd/system}" "${SYSUSERSDIR:=$PREFIX/lib/sysusers.d}"
: "${TMPFILESDIR:=$PREFIX/lib/tmpfiles.d}" "${BASHCOMPDIR:=$PREFIX/share/bash-completion/completions}"
: "${ZSHCOMPDIR:=$PREFIX/share/zsh/site-functions}" "${FISHCOMPDIR:=$PREFIX/share/fish/vendor_completions.d}"
: "${SOURCEDIR:=$PREFIX/share/autonous/source}" "${MANUAL:=}" "${CONFFILE:=}"
MANIFEST=${MANIFEST-$PREFIX/share/autonous/install-manifest}

say() { printf 'install: %s\n' "$*" >&2; }

binaries=(autonous-supervisord autonous-worker autonous-sandbox autonousctl)
for binary in "${binaries[@]}"; do
    [[ -x $bin_dir/$binary ]] || { say "$bin_dir/$binary is not built (make install builds it)"; exit 1; }
done
if [[ -n $MANIFEST && -e $DESTDIR$MANIFEST ]]; then
    say "autonous is installed already ($DESTDIR$MANIFEST): run 'make uninstall' with the same PREFIX first"
    exit 1
fi

entries=()
# Creates a directory and its missing parents, listing each one it creates (outermost first).
directory() {
    local path=$1 missing=()
    while [[ ! -d $DESTDIR$path ]]; do
        missing=("$path" "${missing[@]}")
        path=$(dirname "$path")
    done
    for path in "${missing[@]}"; do
        mkdir -m 0755 "$DESTDIR$path"
        entries+=("d $path")
    done
}
# put MODE SOURCE TARGET: installs one file.
put() {
    directory "$(dirname "$3")"
    install -m "$1" "$2" "$DESTDIR$3"
    entries+=("f $3")
}
# The systemd files name /usr/bin in ExecStart; another BINDIR gets its own paths.
rewritten() { sed "s|/usr/bin/|$BINDIR/|g" "$1"; }

for binary in "${binaries[@]}"; do put 0755 "$bin_dir/$binary" "$BINDIR/$binary"; done

# systemd units, sysusers and tmpfiles snippets, the environment example: whichever systemd/ has.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
shopt -s nullglob
for unit in "$systemd"/*.service "$systemd"/*.socket "$systemd"/*.timer; do
    rewritten "$unit" >"$scratch/unit"
    put 0644 "$scratch/unit" "$UNITDIR/$(basename "$unit")"
done
if [[ -f $systemd/autonous.sysusers.conf ]]; then
    put 0644 "$systemd/autonous.sysusers.conf" "$SYSUSERSDIR/autonous.conf"
fi
if [[ -f $systemd/autonous.tmpfiles.conf ]]; then
    put 0644 "$systemd/autonous.tmpfiles.conf" "$TMPFILESDIR/autonous.conf"
fi
if [[ -f $systemd/autonous.env.example ]]; then
    rewritten "$systemd/autonous.env.example" >"$scratch/env"
    put 0644 "$scratch/env" "$DOCDIR/autonous.env.example"
    [[ -z $CONFFILE ]] || put 0644 "$scratch/env" "$CONFFILE"
fi

put 0644 "$root/README.md" "$DOCDIR/README.md"

# Shell completions: autonousctl is the one executable with a swift-argument-parser command.
# bash sources completions: no #! line.
"$bin_dir/autonousctl" --generate-completion-script bash | sed '1{/^#!/d}' >"$scratch/bash"
"$bin_dir/autonousctl" --generate-completion-script zsh >"$scratch/zsh"
"$bin_dir/autonousctl" --generate-completion-script fish >"$scratch/fish"
put 0644 "$scratch/bash" "$BASHCOMPDIR/autonousctl"
put 0644 "$scratch/zsh" "$ZSHCOMPDIR/_autonousctl"
put 0644 "$scratch/fish" "$FISHCOMPDIR/autonousctl.fish"

# Man pages: autonousctl's from generate-manual, autonous-sandbox's from its own usage text, the two daemons'
# written by hand (they take no options to generate one from).
if [[ -n $MANUAL ]]; then
    gzip -9n <"$MANUAL" >"$scratch/autonousctl.1.gz"
    put 0644 "$scratch/autonousctl.1.gz" "$MANDIR/autonousctl.1.gz"
fi
"$root/scripts/man-from-usage.sh" "$bin_dir/autonous-sandbox" | gzip -9n >"$scratch/autonous-sandbox.1.gz"
put 0644 "$scratch/autonous-sandbox.1.gz" "$MANDIR/autonous-sandbox.1.gz"
for page in "$root"/man/*.1; do
    gzip -9n <"$page" >"$scratch/page.gz"
    put 0644 "$scratch/page.gz" "$MANDIR/$(basename "$page").gz"
done

# The source the supervisor seeds its repository from (AUTONOUS_SOURCE_REPO, by default this directory beside
# the binaries' prefix): a bare clone of HEAD, and SwiftPM's clones of the dependencies for offline builds.
if [[ -e $DESTDIR$SOURCEDIR ]]; then
    say "$DESTDIR$SOURCEDIR exists already: remove it or choose another SOURCEDIR"
    exit 1
fi
directory "$(dirname "$SOURCEDIR")"
git -c init.templateDir= clone --quiet --bare --single-branch --no-hardlinks "$root" "$DESTDIR$SOURCEDIR"
git -C "$DESTDIR$SOURCEDIR" remote remove origin
if [[ -n $(git -C "$root" status --porcelain --untracked-files=no) ]]; then
    say "warning: the checkout has uncommitted changes; the installed source is its HEAD, not what was built"
fi
if [[ -d $root/.build/repositories ]]; then
    mkdir -p "$DESTDIR$SOURCEDIR/.build"
    cp -R "$root/.build/repositories" "$DESTDIR$SOURCEDIR/.build/repositories"
    rm -f "$DESTDIR$SOURCEDIR"/.build/repositories/*/hooks/*.sample
else
    say "warning: no .build/repositories: self-update builds will lack the dependencies (build once, then install)"
fi
chmod -R u=rwX,go=rX "$DESTDIR$SOURCEDIR"
entries+=("t $SOURCEDIR")

if [[ -n $MANIFEST ]]; then
    directory "$(dirname "$MANIFEST")"
    printf '%s\n' "${entries[@]}" "f $MANIFEST" >"$DESTDIR$MANIFEST"
    chmod 0644 "$DESTDIR$MANIFEST"
    say "installed into ${DESTDIR:-/}, manifest $DESTDIR$MANIFEST ($(wc -l <"$DESTDIR$MANIFEST") entries)"
fi
