#!/bin/sh
# test-cli.sh - exercises the darius admin CLI against a temporary datadir.
#
#   DARIUS_BUILD=build sh tests/cli/test-cli.sh
#
# Checks outputs and exit codes; prints "cli: N passed, N failed" and exits
# non-zero when anything failed.

BUILD=${DARIUS_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$(pwd)/$BUILD ;; esac
D=$BUILD/darius
if [ ! -x "$D" ]; then
    echo "test-cli: $D not found (set DARIUS_BUILD)" >&2
    echo "cli: 0 passed, 1 failed"
    exit 1
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/darius-cli-XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM
CONF=$T/darius.conf
printf 'datadir: %s/var\n' "$T" > "$CONF"

passed=0
failed=0
OUT=$T/out
ERR=$T/err

ok() { passed=$((passed + 1)); }
fail() {
    failed=$((failed + 1))
    echo "FAIL: $*" >&2
    echo "  stdout: $(head -c 500 "$OUT")" >&2
    echo "  stderr: $(head -c 500 "$ERR")" >&2
}

# run [STDIN] -- ARGS...: runs darius, leaves status in $rc
run() {
    input=$1
    shift
    printf '%s' "$input" | "$D" "$@" >"$OUT" 2>"$ERR"
    rc=$?
}
# expect_rc WANT DESCRIPTION
expect_rc() {
    if [ "$rc" -eq "$1" ]; then ok; else fail "$2: exit $rc, want $1"; fi
}
# expect_out PATTERN DESCRIPTION (grep -x on stdout)
expect_out() {
    if grep -qx -- "$1" "$OUT"; then ok; else fail "$2: stdout lacks line '$1'"; fi
}
expect_no_out() {
    if grep -qx -- "$1" "$OUT"; then fail "$2: stdout has line '$1'"; else ok; fi
}
expect_err() {
    if grep -q -- "$1" "$ERR"; then ok; else fail "$2: stderr lacks '$1'"; fi
}

# --- help and version -------------------------------------------------------
run "" --help;                    expect_rc 0 "--help"; expect_out "Usage: darius .*" "--help text"
run "" user --help;               expect_rc 0 "user --help"
run "" mailbox --help;            expect_rc 0 "mailbox --help"
for c in "user add" "user passwd" "user del" "user list" "user import" "user info" "user lock" "user unlock" \
         "mailbox create" "mailbox delete" "mailbox rename" "mailbox list" \
         "quota set" "quota get" "quota list" "quota recalc"; do
    # shellcheck disable=SC2086
    run "" $c --help;             expect_rc 0 "$c --help"
    if [ -s "$ERR" ]; then fail "$c --help wrote to stderr"; else ok; fi
done
run "" --version;                 expect_rc 0 "--version"; expect_out "darius [0-9.]*" "--version text"

# --- usage errors -----------------------------------------------------------
run "";                           expect_rc 64 "no command"
run "" frobnicate;                expect_rc 64 "unknown command"; expect_err "Usage:" "usage on stderr"
run "" -C "$CONF" user;           expect_rc 64 "user without subcommand"
run "" -C "$CONF" user add;       expect_rc 64 "user add without name"
run "" -C "$CONF" user add a b;   expect_rc 64 "user add with two names"
run "" -C "$CONF" mailbox rename bob x; expect_rc 64 "rename with one name"
run "" --bogus;                   expect_rc 64 "unknown option"
run "pw
" -C "$CONF" user add "bad name"; expect_rc 64 "invalid user name"

# --- configuration errors ---------------------------------------------------
printf 'datadir: %s/var\nno_such_key: 1\n' "$T" > "$T/bad.conf"
run "" -C "$T/bad.conf" user list; expect_rc 78 "bad config key"
expect_err "bad.conf:2" "config error names file:line"
run "" -C "$T/missing.conf" user list; expect_rc 78 "missing config file"
# --help works even with a broken configuration
run "" -C "$T/bad.conf" user --help; expect_rc 0 "help with bad config"

# --- users ------------------------------------------------------------------
run "secret
" -C "$CONF" user add Bob;          expect_rc 0 "user add"
run "other
" -C "$CONF" user add bob;          expect_rc 73 "duplicate user add"; expect_err "already exists" "duplicate message"
run "secret2
" -C "$CONF" user add alice;        expect_rc 0 "user add alice"
run "" -C "$CONF" user add carol;   expect_rc 1 "user add without password"
run "" -C "$CONF" user list;        expect_rc 0 "user list"
expect_out "bob" "list has bob"; expect_out "alice" "list has alice"; expect_no_out "carol" "no carol"
if [ "$(cat "$OUT")" = "$(printf 'alice\nbob')" ]; then ok; else fail "user list sorted"; fi
run "newpw
" -C "$CONF" user passwd bob;       expect_rc 0 "user passwd"
run "newpw
" -C "$CONF" user passwd nobody;    expect_rc 67 "passwd unknown user"; expect_err "no such user: nobody" "msg"
run "" -C "$CONF" user lock bob;     expect_rc 0 "user lock"; expect_out "user bob locked" "lock message"
run "" -C "$CONF" user lock bob;     expect_rc 0 "user lock again"
run "" -C "$CONF" user unlock bob;   expect_rc 0 "user unlock"; expect_out "user bob unlocked" "unlock message"
run "" -C "$CONF" user lock nobody;  expect_rc 67 "lock unknown user"; expect_err "no such user: nobody" "msg"
run "" -C "$CONF" user unlock;       expect_rc 64 "unlock without name"
perms=$(stat -c %a "$T/var/users.db")
if [ "$perms" = 600 ]; then ok; else fail "users.db mode $perms"; fi
# sha512-crypt of "importpw" with salt "saltsalt"
# shellcheck disable=SC2016
HASH6='$6$saltsalt$jMepohnzfmdCbk8Kg4JyKy9odBBsz9ri4dQy2xwcWAZr7bFzOU1DKYXluz0FW0dVRhu3PPEM5HoTB5eHXVBMq0'
run "" -C "$CONF" user import dave "$HASH6"
expect_rc 0 "user import \$6\$"
run "" -C "$CONF" user import eve 'not-a-hash'; expect_rc 65 "import bad hash"
run "" -C "$CONF" user import dave "$HASH6"
expect_rc 73 "import existing user"

# --- mailboxes --------------------------------------------------------------
run "" -C "$CONF" mailbox list bob;  expect_rc 0 "mailbox list"; expect_out "INBOX 0 messages" "INBOX listed"
run "" -C "$CONF" mailbox create bob Sent Work inbox/Sub; expect_rc 0 "mailbox create"
run "" -C "$CONF" mailbox list bob
expect_out "Sent 0 messages" "Sent listed"; expect_out "Work 0 messages" "Work listed"
expect_out "INBOX/Sub 0 messages" "inbox/ normalized"
run "" -C "$CONF" mailbox create bob Sent; expect_rc 73 "duplicate mailbox"
run "" -C "$CONF" mailbox create bob 'Caf'"$(printf '\303\251')"; expect_rc 0 "UTF-8 mailbox"
run "" -C "$CONF" mailbox create bob "$(printf 'bad\001')"; expect_rc 65 "control char in name"
run "" -C "$CONF" mailbox rename bob Work Jobs; expect_rc 0 "mailbox rename"
run "" -C "$CONF" mailbox list bob
expect_out "Jobs 0 messages" "renamed listed"; expect_no_out "Work 0 messages" "old name gone"
run "" -C "$CONF" mailbox rename bob NoSuch Other; expect_rc 1 "rename missing mailbox"
run "" -C "$CONF" mailbox delete bob Sent Jobs; expect_rc 0 "mailbox delete"
run "" -C "$CONF" mailbox list bob
expect_no_out "Sent 0 messages" "Sent gone"; expect_no_out "Jobs 0 messages" "Jobs gone"
expect_out "INBOX 0 messages" "INBOX remains"
run "" -C "$CONF" mailbox delete bob NoSuch; expect_rc 1 "delete missing mailbox"
run "" -C "$CONF" mailbox list nobody; expect_rc 67 "mailbox list unknown user"
expect_err "darius: no such user: nobody" "unknown user message"
run "" -C "$CONF" mailbox create nobody X; expect_rc 67 "mailbox create unknown user"
if [ -d "$T/var/user/n/nobody" ]; then fail "store created for unknown user"; else ok; fi

# --- quota ------------------------------------------------------------------------
run "pw
" -C "$CONF" user add quser;        expect_rc 0 "user add quser"
run "" -C "$CONF" quota get user/quser
expect_rc 0 "quota get default root"
expect_out "user/quser  storage 0/unlimited KiB  messages 0/unlimited  mailboxes 1/unlimited" "default root text"
run "" -C "$CONF" mailbox create quser Archive Archive/2020; expect_rc 0 "quota: mailboxes"
run "" -C "$CONF" quota set user/quser storage=100 message=5
expect_rc 0 "quota set"
expect_out "user/quser  storage 0/100 KiB  messages 0/5  mailboxes 3/unlimited" "quota set output"
run "" -C "$CONF" quota set user/quser mailbox=10; expect_rc 0 "quota set keeps other limits"
expect_out "user/quser  storage 0/100 KiB  messages 0/5  mailboxes 3/10" "limits kept"
run "" -C "$CONF" quota set user/quser message=none; expect_rc 0 "quota set none"
expect_out "user/quser  storage 0/100 KiB  messages 0/unlimited  mailboxes 3/10" "limit removed"
run "" -C "$CONF" quota set --json user/quser/Archive storage=7
expect_rc 0 "quota set sub-root --json"
expect_out '{"root":"user/quser/Archive","user":"quser","root_mailbox":"Archive","storage_bytes":0,"storage":{"used":0,"limit":7},"message":{"used":0,"limit":null},"mailbox":{"used":2,"limit":null}}' "sub-root json"
run "" -C "$CONF" quota get user/quser/Archive --json; expect_rc 0 "quota get --json"
expect_out '{"root":"user/quser/Archive".*"storage":{"used":0,"limit":7}.*}' "get json"
run "" -C "$CONF" quota list quser
expect_rc 0 "quota list user"
expect_out "user/quser/Archive  storage 0/7 KiB  messages 0/unlimited  mailboxes 2/unlimited" "list has sub-root"
run "" -C "$CONF" quota list --json quser; expect_rc 0 "quota list --json"
expect_out '\[{"root":"user/quser",.*},{"root":"user/quser/Archive",.*}\]' "list json array"
run "" -C "$CONF" quota list; expect_rc 0 "quota list all users"
expect_out "user/quser  storage .*" "all users listed"
run "" -C "$CONF" quota set user/quser/NoSuch storage=1; expect_rc 1 "quota set missing mailbox"
expect_err "no such mailbox" "missing mailbox message"
run "" -C "$CONF" quota get user/quser/Other; expect_rc 1 "quota get missing root"
run "" -C "$CONF" quota set user/nobody storage=1; expect_rc 67 "quota set unknown user"
run "" -C "$CONF" quota get quser; expect_rc 0 "quota root: bare user name"
expect_out "user/quser  storage .*" "bare user name = user/NAME"
run "" -C "$CONF" quota set quser/Archive storage=1; expect_rc 64 "quota root without user/"
run "" -C "$CONF" quota set "bad name" storage=1; expect_rc 64 "quota root: invalid user name"
run "" -C "$CONF" quota set user/quser stor=1; expect_rc 64 "bad resource"
run "" -C "$CONF" quota set user/quser storage=-1; expect_rc 64 "negative limit"
run "" -C "$CONF" quota set user/quser storage=99999999999999999999; expect_rc 64 "huge limit"
run "" -C "$CONF" quota get --dry-run user/quser; expect_rc 64 "--dry-run only for recalc"
run "" -C "$CONF" quota recalc quser; expect_rc 0 "quota recalc clean"
expect_out "user/quser: ok" "recalc ok"
# Damage the stored usage: recalc reports the drift, --dry-run leaves it.
if command -v python3 >/dev/null 2>&1; then
    python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('UPDATE quotaroot SET storage_used=4096, message_used=3 WHERE name=\'Archive\''); c.commit()" \
        "$T/var/user/q/quser/mail.db"
    run "" -C "$CONF" quota recalc --dry-run quser; expect_rc 0 "recalc --dry-run"
    expect_out "user/quser/Archive: drift: storage 4096 -> 0 bytes, messages 3 -> 0, mailboxes 2 -> 2 (not fixed: --dry-run)" "drift reported"
    run "" -C "$CONF" quota get user/quser/Archive; expect_out "user/quser/Archive  storage 4/7 KiB.*" "dry run kept usage"
    run "" -C "$CONF" quota recalc --json quser; expect_rc 0 "recalc --json"
    expect_out '\[.*{"root":"user/quser/Archive","drift":true,"fixed":true,"before":{"storage_bytes":4096,"message":3,"mailbox":2},"after":{"storage_bytes":0,"message":0,"mailbox":2}}\]' "recalc json"
    run "" -C "$CONF" quota recalc quser; expect_out "user/quser/Archive: ok" "drift fixed"
fi
run "" -C "$CONF" quota recalc nobody; expect_rc 67 "recalc unknown user"

# --- user del -----------------------------------------------------------------
run "" -C "$CONF" user del bob;     expect_rc 0 "user del"
run "" -C "$CONF" user list;        expect_no_out "bob" "bob gone"
if [ -d "$T/var/user/b/bob" ]; then fail "store of bob still there"; else ok; fi
run "" -C "$CONF" user del bob;     expect_rc 67 "user del twice"

# --- default configuration (./var) ------------------------------------------
mkdir "$T/cwd"
(cd "$T/cwd" && printf 'pw\n' | "$D" user add frank >"$OUT" 2>"$ERR"); rc=$?
expect_rc 0 "user add with defaults"
if [ -f "$T/cwd/var/users.db" ]; then ok; else fail "default datadir ./var not used"; fi

# --- multi-user commands (issue 3) ------------------------------------------
# shellcheck source=tests/cli/test-cli-multiuser.sh
. "$(dirname "$0")/test-cli-multiuser.sh"

# --- Sieve scripts (issue 11) -------------------------------------------------
# shellcheck source=tests/cli/test-cli-sieve.sh
. "$(dirname "$0")/test-cli-sieve.sh"
# shellcheck source=tests/cli/test-cli-sieve-import.sh
. "$(dirname "$0")/test-cli-sieve-import.sh"

echo "cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
