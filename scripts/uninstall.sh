#!/usr/bin/env bash
# Removes what scripts/install.sh installed, as its manifest lists it: `make uninstall` runs it.
#
# Environment: DESTDIR, PREFIX, MANIFEST (default $PREFIX/share/autonous/install-manifest), as for the install.
# Files (f) and trees (t) are removed, then the directories the install created (d), deepest first, when they are
# empty. The state directory (/var/lib/autonous) and /etc/autonous are never in a manifest, so never removed.
set -euo pipefail

: "${PREFIX:=/usr/local}" "${DESTDIR:=}"
: "${MANIFEST:=$PREFIX/share/autonous/install-manifest}"
say() { printf 'uninstall: %s\n' "$*" >&2; }

if [[ ! -f $DESTDIR$MANIFEST ]]; then
    say "no manifest at $DESTDIR$MANIFEST: nothing was installed with this PREFIX and DESTDIR"
    exit 1
fi
mapfile -t entries <"$DESTDIR$MANIFEST"
directories=()
for entry in "${entries[@]}"; do
    kind=${entry%% *} path=${entry#* }
    [[ $path == /* && $path != */../* ]] || { say "skipping a malformed manifest line: $entry"; continue; }
    case $kind in
    f) rm -f -- "$DESTDIR$path" ;;
    t) rm -rf -- "$DESTDIR$path" ;;
    d) directories=("$path" "${directories[@]}") ;;
    *) say "skipping a malformed manifest line: $entry" ;;
    esac
done
for path in "${directories[@]}"; do
    rmdir -- "$DESTDIR$path" 2>/dev/null || say "kept $DESTDIR$path: it is not empty"
done
say "removed ${#entries[@]} entries listed in $DESTDIR$MANIFEST"
