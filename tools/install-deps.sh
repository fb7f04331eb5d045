#!/bin/sh
# install-deps.sh - install the Debian 12 packages Darius needs to build,
# run and test. Idempotent and quiet when everything is present.
#
# libsasl2-modules ships libscram.so (SCRAM-SHA-1/-256 client side for
# imtest) next to PLAIN/LOGIN, so no further SASL module package is needed.
#
# libclang-rt-14-dev holds clang 14's libFuzzer and sanitizer runtimes
# (libclang_rt.fuzzer*.a) for `make fuzz`; clang only recommends it, and
# recommends are not installed here.
#
# postfix is only used by tests/interop/test_postfix.py, which runs a
# private instance (postfix -c DIR) in a temporary directory. It is installed
# with "No configuration" (debconf preseed: no /etc/postfix/main.cf, nothing
# listens on port 25) and its service is kept from starting during the
# installation (a temporary policy-rc.d, only if none exists).
set -eu

# "run" (make run): only what building and running dariusd needs. Without an
# argument (make test, CI): also the test clients, clang and Postfix, which
# would replace another MTA (e.g. exim4) on the machine, so `make run` must
# never pull it in.
BUILD_PKGS="build-essential pkg-config libssl-dev libsqlite3-dev zlib1g-dev
libargon2-dev libcrypt-dev openssl libicu-dev"
TEST_PKGS="clang libclang-rt-14-dev python3 cyrus-clients cyrus-admin libsasl2-modules isync mutt
ca-certificates procps fetchmail postfix"
case "${1:-test}" in
    run) PKGS=$BUILD_PKGS ;;
    test) PKGS="$BUILD_PKGS $TEST_PKGS" ;;
    *) echo "usage: install-deps.sh [run|test]" >&2; exit 64 ;;
esac

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
case " $missing " in
    *" postfix "*)
        echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
        ;;
esac
policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    policy=/usr/sbin/policy-rc.d
fi
rc=0
apt-get update && DEBIAN_FRONTEND=noninteractive $cmd || rc=$?
[ -n "$policy" ] && rm -f "$policy"
exit $rc
