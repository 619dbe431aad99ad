#!/usr/bin/env bash
# Installs what the build and the test suite need, if it is missing: the
# Debian packages in .ci/apt-packages (apt-get update first), the Python
# packages the tests import, and rustfmt/clippy. Idempotent and quick when
# everything is there. `make test` and `.ci/run` both call it, so a fresh
# machine needs only `make test`. Feature suites install their own pip/npm
# packages from their make fragments.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export DEBIAN_FRONTEND=noninteractive

# Install the Debian packages listed in .ci/apt-packages that are missing.
wanted=()
while read -r pkg _; do
    case "$pkg" in ""|"#"*) continue ;; esac
    wanted+=("$pkg")
done < .ci/apt-packages
missing=()
for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done

if [ "${#missing[@]}" -gt 0 ]; then
    echo "==> missing packages: ${missing[*]}; installing with apt-get"
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "error: ${missing[*]} missing and apt-get is not available" >&2
        exit 1
    fi
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo -n)
        else
            echo "error: need root (or sudo) to install ${missing[*]}" >&2
            exit 1
        fi
    fi
    ${sudo[@]+"${sudo[@]}"} apt-get update </dev/null
    ${sudo[@]+"${sudo[@]}"} apt-get install -y --no-install-recommends "${missing[@]}" </dev/null
else
    echo "==> packages in .ci/apt-packages present; skipping apt-get"
fi

# The metrics test parses our Prometheus text with the reference parser.
if ! python3 -c "import prometheus_client" 2>/dev/null; then
    echo "==> pip install prometheus_client"
    python3 -m pip install --quiet prometheus_client </dev/null
fi

# cargo may live in ~/.cargo/bin without being on PATH in a fresh shell.
if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "error: cargo is not installed (https://rustup.rs)" >&2
    exit 1
fi
# `make check` needs rustfmt and clippy.
if command -v rustup >/dev/null 2>&1; then
    for component in rustfmt clippy; do
        if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
            echo "==> rustup component add $component"
            rustup component add "$component" </dev/null
        fi
    done
fi

