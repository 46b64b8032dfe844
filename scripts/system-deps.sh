#!/usr/bin/env bash
# System programs the test suite drives for real: a Mosquitto binary (fixtures start private brokers),
# Debian's chromium (browser tests), espeak-ng (the coach's spoken cues), a running PostgreSQL
# (monitor storage tests), poppler's pdftoppm and npm.
# Installs what is missing through apt when allowed (root, or passwordless sudo); otherwise says what to do.
set -euo pipefail
if [ "$(id -u)" = 0 ]; then sudo=""; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; else sudo="none"; fi
missing=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
command -v pg_ctlcluster >/dev/null 2>&1 || missing+=(postgresql)
command -v pdftoppm >/dev/null 2>&1 || missing+=(poppler-utils)  # report PDF pages as PNG in the tests
command -v npm >/dev/null 2>&1 || missing+=(npm)  # test-only Node packages (tests/node): OIDC provider, FHIR schema
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$sudo" = none ]; then
        echo "system-deps: missing ${missing[*]}; install with: sudo apt-get install ${missing[*]}" >&2
        exit 1
    fi
    echo "system-deps: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >&2
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
# PostgreSQL refuses to run as root: start the packaged cluster through its own tools.
if command -v pg_lsclusters >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    ver=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
    if [ "$sudo" != none ] && [ -n "$ver" ]; then
        $sudo pg_ctlcluster --skip-systemctl-redirect "$ver" main start >&2 || true
    fi
fi
exit 0
