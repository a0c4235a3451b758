#!/usr/bin/env bash
# Installs what autonous needs to build and test on Debian 12 / Ubuntu, and only what is missing.
#
# Idempotent and quick when everything is present (no apt-get, no network). Works without a terminal or stdin
# (CI runs it with CI=true). Needs root or sudo only when a Debian package is missing.
#
# Checks, in order:
#   1. Debian packages (C libraries the Swift targets link, the test fixtures' python3, sqlite3, bubblewrap;
#      python3-venv for the virtual environment `make bench` installs nanobot into).
#   2. The python package `varlink` (PyPI): the tests use it as a third-party varlink client.
#   3. A Swift 6.2 or newer toolchain on PATH (Package.swift needs tools version 6.2); not installed here.
set -euo pipefail

packages=(
    libsqlite3-dev
    libcurl4-openssl-dev
    libseccomp-dev
    libcap-dev
    pkg-config
    python3
    python3-pip
    python3-venv
    bubblewrap
    sqlite3
)

say() { printf 'install-deps: %s\n' "$*" >&2; }

# 1. Debian packages.
if command -v dpkg-query >/dev/null 2>&1; then
    missing=()
    for package in "${packages[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$package")
        fi
    done
    if ((${#missing[@]} > 0)); then
        if [[ $(id -u) -eq 0 ]]; then
            as_root=()
        elif command -v sudo >/dev/null 2>&1; then
            # Without a terminal sudo cannot ask for a password: fail at once instead of waiting.
            if [[ -t 0 ]]; then as_root=(sudo); else as_root=(sudo -n); fi
        else
            say "missing Debian packages: ${missing[*]}"
            say "run as root: apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
            exit 1
        fi
        say "installing ${missing[*]}"
        "${as_root[@]}" apt-get update </dev/null
        "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y --no-install-recommends "${missing[@]}" </dev/null
    fi
else
    say "dpkg-query not found: this is not Debian or Ubuntu; make sure these (or their equivalents) are installed:"
    say "  ${packages[*]}"
fi

# 2. The python varlink client used by the tests.
if ! command -v python3 >/dev/null 2>&1; then
    say "python3 not found on PATH; install python3 and python3-pip"
    exit 1
fi
if ! python3 -c 'import varlink' >/dev/null 2>&1; then
    say "installing the python package varlink"
    export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
    pip_log=$(mktemp)
    trap 'rm -f "$pip_log"' EXIT
    if ! python3 -m pip install --quiet varlink </dev/null 2>"$pip_log"; then
        if grep -q 'externally-managed-environment' "$pip_log"; then
            # Debian's python refuses pip installs into the system site (PEP 668); varlink is one small
            # pure-python package that no Debian package depends on, so installing it there is harmless.
            python3 -m pip install --quiet --break-system-packages varlink </dev/null
        else
            cat "$pip_log" >&2
            say "pip could not install varlink (see above)"
            exit 1
        fi
    fi
    if ! python3 -c 'import varlink' >/dev/null 2>&1; then
        say "varlink was installed but python3 cannot import it (a different python3 on PATH?)"
        exit 1
    fi
fi

# 3. The Swift toolchain.
if ! version_text=$(swift --version 2>/dev/null); then
    say "swift not found on PATH."
    say "Install Swift 6.2 or newer for your distribution from https://www.swift.org/install/linux/"
    say "(swiftly or the tarball), put its usr/bin on PATH, and run this again."
    exit 1
fi
version=$(printf '%s\n' "$version_text" | sed -nE 's/.*Swift version ([0-9]+)\.([0-9]+).*/\1 \2/p' | head -n 1)
if [[ -n $version ]]; then
    read -r major minor <<<"$version"
    if ((major < 6 || (major == 6 && minor < 2))); then
        say "swift $major.$minor is too old: autonous needs Swift 6.2 or newer (https://www.swift.org/install/linux/)"
        exit 1
    fi
fi
