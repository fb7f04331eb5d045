# shellcheck shell=sh
# test-cli-sieve-import.sh - "darius sieve import" (issue 11): a Cyrus
# sievedir (NAME.script, NAME.bc, the defaultbc link) and a Dovecot home
# (sieve/NAME.sieve, the .dovecot.sieve link, or a plain .dovecot.sieve),
# scripts that do not compile (stored, reported, never activated), names
# and sizes the store refuses, --dry-run and --json.
#
# Sourced by test-cli.sh (its run/expect_* helpers, $D, $T, counters);
# its own data directory: 1 KiB scripts, 4 per user.

SI=$T/si
mkdir -p "$SI"
ICONF=$SI/darius.conf
printf 'datadir: %s/var\nsieve_maxscriptsize: 1\nsieve_maxscripts: 4\n' "$SI" > "$ICONF"
run "pw
" -C "$ICONF" user add cy;          expect_rc 0 "import: user add cy"
run "pw
" -C "$ICONF" user add dv;          expect_rc 0 "import: user add dv"
run "pw
" -C "$ICONF" user add pl;          expect_rc 0 "import: user add pl"

# --- Cyrus ---------------------------------------------------------------------
CY=$SI/cyrus/c/cy
mkdir -p "$CY"
printf 'require ["fileinto"];\nif header :contains "subject" "[list]" { fileinto "Lists"; }\n' > "$CY/main.script"
printf 'keep;\n' > "$CY/spare.script"
printf 'binary junk' > "$CY/main.bc"
ln -s main.bc "$CY/defaultbc"
MAINSZ=$(wc -c < "$CY/main.script" | tr -d ' ')
run "" -C "$ICONF" sieve import --help; expect_rc 0 "sieve import --help"
run "" -C "$ICONF" sieve import cy;     expect_rc 64 "import without a directory"
run "" -C "$ICONF" sieve import cy "$SI/missing"; expect_rc 66 "import: no such directory"
run "" -C "$ICONF" sieve import nobody "$CY"; expect_rc 67 "import: unknown user"
run "" -C "$ICONF" sieve import --dry-run cy "$CY"; expect_rc 0 "cyrus dry run"
expect_out "main: would import ($MAINSZ bytes), active" "dry run: main"
expect_out "spare: would import (6 bytes)" "dry run: spare"
run "" -C "$ICONF" sieve list cy;       expect_rc 0 "list after dry run"
if [ -s "$OUT" ]; then fail "dry run stored scripts"; else ok; fi
run "" -C "$ICONF" sieve import cy "$CY"; expect_rc 0 "cyrus import"
expect_out "main: imported ($MAINSZ bytes), active" "cyrus: main imported and active"
expect_out "spare: imported (6 bytes)" "cyrus: spare imported"
run "" -C "$ICONF" sieve list cy;       expect_rc 0 "cyrus: list"
expect_out "main $MAINSZ bytes active" "cyrus: main active"
expect_out "spare 6 bytes" "cyrus: spare"
expect_no_out "main.bc.*" "cyrus: bytecode not imported"
run "" -C "$ICONF" sieve get cy main;   expect_rc 0 "cyrus: get main"
if cmp -s "$CY/main.script" "$OUT"; then ok; else fail "cyrus: main's source changed"; fi
run "" -C "$ICONF" sieve list --json cy; expect_rc 0 "cyrus: list --json"
if grep -q '"name":"main","active":true,"size":'"$MAINSZ"',"mtime":[0-9]*,"compiled_version":[1-9]' "$OUT"; then ok
else fail "cyrus: main not stored compiled"; fi
# importing again replaces, still active
run "" -C "$ICONF" sieve import cy "$CY"; expect_rc 0 "cyrus import again"

# --- Dovecot home: sieve/ and the .dovecot.sieve link ----------------------------
DH=$SI/home/dv
mkdir -p "$DH/sieve/tmp"
printf 'require "vacation";\nvacation :days 3 "Away";\n' > "$DH/sieve/away.sieve"
printf 'require "nosuchextension";\nkeep;\n' > "$DH/sieve/broken.sieve"
printf 'keep;\n' > "$DH/sieve/tmp/leftover.sieve"
printf 'compiled' > "$DH/sieve/away.svbin"
ln -s sieve/broken.sieve "$DH/.dovecot.sieve"
AWAYSZ=$(wc -c < "$DH/sieve/away.sieve" | tr -d ' ')
run "" -C "$ICONF" sieve import dv "$DH"; expect_rc 1 "dovecot import with a broken active script"
expect_out "away: imported ($AWAYSZ bytes)" "dovecot: away imported"
expect_out "broken: imported, with errors (33 bytes), was active: NOT activated" "dovecot: broken reported, not active"
expect_out "  1:.*nosuchextension.*" "dovecot: the compile error with line:col"
run "" -C "$ICONF" sieve list dv;       expect_rc 0 "dovecot: list"
expect_out "away $AWAYSZ bytes" "dovecot: away listed"
expect_out "broken 33 bytes" "dovecot: broken stored, inactive"
expect_no_out "leftover.*" "dovecot: tmp/ skipped"
# the script directory itself, with the link one level up, as JSON
rm "$DH/.dovecot.sieve"
ln -s sieve/away.sieve "$DH/.dovecot.sieve"
run "" -C "$ICONF" sieve import --json dv "$DH/sieve"; expect_rc 1 "dovecot: the script directory (broken still fails)"
if grep -q '"format":"dovecot"' "$OUT" && grep -q '"name":"away","file":"[^"]*","size":'"$AWAYSZ"',"active":true,"imported":true,"errors":\[\]' "$OUT"
then ok; else fail "dovecot: --json of the script directory"; fi
run "" -C "$ICONF" sieve list dv;       expect_rc 0 "dovecot: list after the second import"
expect_out "away $AWAYSZ bytes active" "dovecot: away active now"

# --- a plain .dovecot.sieve, a bad name, a script too big -------------------------
PH=$SI/home/pl
mkdir -p "$PH/sieve"
printf 'discard;\n' > "$PH/.dovecot.sieve"
head -c 2000 /dev/zero | tr '\0' '#' > "$PH/sieve/huge.sieve"
printf 'keep;\n' > "$PH/sieve/$(printf 'bad\001name').sieve"
run "" -C "$ICONF" sieve import pl "$PH"; expect_rc 1 "import with refusals"
expect_out "dovecot.orig: imported (9 bytes), active" "plain .dovecot.sieve as dovecot.orig, active"
expect_out "huge: NOT imported (2000 bytes)" "too big: refused"
expect_out "  QUOTA/MAXSIZE: .*" "too big: QUOTA/MAXSIZE"
expect_out "  not a valid script name (RFC 5804 1.6)" "bad name refused"
expect_out "bad?name: NOT imported (0 bytes)" "bad name shown without its control character"
run "" -C "$ICONF" sieve list pl;       expect_rc 0 "plain: list"
expect_out "dovecot.orig 9 bytes active" "plain: listed active"
run "" -C "$ICONF" sieve import pl "$SI/cyrus/c/cy/main.script"; expect_rc 66 "import of a file, not a directory"
