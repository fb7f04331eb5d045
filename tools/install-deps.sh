#!/bin/sh
# install-deps.sh - install the Debian 12 packages Darius needs to build,
# run and test. Idempotent and quiet when everything is present.
#
# libsasl2-modules ships libscram.so (SCRAM-SHA-1/-256 client side for
# imtest) next to PLAIN/LOGIN, so no further SASL module package is needed.
set -eu

PKGS="build-essential pkg-config clang libssl-dev libsqlite3-dev zlib1g-dev
libargon2-dev libcrypt-dev openssl python3 cyrus-clients libsasl2-modules
isync mutt ca-certificates procps fetchmail"

missing=""
for p in $PKGS; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$st" in
        *" installed") ;;
        *) missing="$missing $p" ;;
    esac
done

[ -z "$missing" ] && exit 0

cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages:$missing" >&2
    echo "install-deps: run as root:" >&2
    echo "  apt-get update && DEBIAN_FRONTEND=noninteractive $cmd" >&2
    exit 1
fi

echo "install-deps: installing:$missing"
apt-get update
DEBIAN_FRONTEND=noninteractive $cmd
