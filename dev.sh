#!/usr/bin/env bash
# Set up ketch in ./.venv and run the hello example or the test suite.
#   ./dev.sh hello    install ketch, then `ketch run examples/hello.py`
#   ./dev.sh test     install ketch with its test extras, then run pytest
set -euo pipefail
cd "$(dirname "$0")"

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
    echo "ketch needs Python 3.11 or newer as \$PYTHON or python3" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    if ! "$python" -m venv .venv 2>/dev/null; then
        # Debian and Ubuntu ship venv separately.
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
            rm -rf .venv && "$python" -m venv .venv
        else
            echo "python3 -m venv failed: install your distribution's python3-venv package" >&2
            exit 1
        fi
    fi
fi

case "${1:-}" in
    hello)
        .venv/bin/python -m pip install -q -e .
        .venv/bin/ketch run examples/hello.py
        ;;
    test)
        shift
        # Sandboxes: gVisor's runsc and nftables (their network policy), from the system's
        # packages; as root on Debian or Ubuntu they are installed when missing. Debian 12's
        # own runsc (2022) breaks `ls` inside: there it comes from bookworm-backports (2024).
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null \
                && ! { command -v runsc && command -v nft && command -v ip; } >/dev/null; then
            release=()
            if grep -qs '^VERSION_CODENAME=bookworm' /etc/os-release; then
                echo "deb http://deb.debian.org/debian bookworm-backports main" \
                    > /etc/apt/sources.list.d/bookworm-backports.list
                release=(-t bookworm-backports)
            fi
            apt-get update -qq && apt-get install -y -qq nftables iproute2 >/dev/null
            apt-get install -y -qq "${release[@]}" runsc >/dev/null
        fi
        # Image pulls are tested against a real registry on 127.0.0.1 with images the tests
        # build themselves: Debian's docker-registry (the CNCF distribution registry), skopeo
        # to push them, mmdebstrap for a Debian root file system, htpasswd (apache2-utils)
        # for the registry's bcrypt password file, and patchelf to make a relocatable
        # stand-in for a standalone CPython download out of this machine's own.
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null \
                && ! { command -v docker-registry && command -v skopeo && command -v mmdebstrap \
                       && command -v htpasswd && command -v patchelf; } >/dev/null; then
            apt-get update -qq
            apt-get install -y -qq docker-registry skopeo mmdebstrap apache2-utils patchelf \
                >/dev/null
        fi
        # Cloud bucket mounts are made with s3fs (FUSE), against moto's S3 server in the tests.
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && ! command -v s3fs >/dev/null; then
            apt-get update -qq && apt-get install -y -qq s3fs >/dev/null
        fi
        # The dashboard's tests drive Debian's chromium through its chromedriver.
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null \
                && ! { command -v chromium && command -v chromedriver; } >/dev/null; then
            apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
        fi
        .venv/bin/python -m pip install -q -e '.[test]'
        .venv/bin/python -m pytest "$@"
        ;;
    *)
        echo "usage: ./dev.sh hello | test [pytest args]" >&2
        exit 2
        ;;
esac
