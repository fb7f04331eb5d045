# shellcheck shell=sh
# test-cli-sieve.sh - "darius sieve ..." (issue 11): scripts stored in the
# users' stores, their limits and quota, the RFC 5804 outcomes (ACTIVE,
# NONEXISTENT, ALREADYEXISTS, QUOTA/MAXSIZE, QUOTA/MAXSCRIPTS, QUOTA), and
# scripts following the account through user rename, partition move and
# delete.
#
# Sourced by test-cli.sh (uses its run/expect_* helpers, $D, $T, counters);
# it sets up its own data directory: 1 KiB scripts, 3 per user.

SV=$T/sv
mkdir -p "$SV/p2"
SCONF=$SV/darius.conf
printf 'datadir: %s/var\npartition-p2: %s/p2\nsieve_maxscriptsize: 1\nsieve_maxscripts: 3\n' "$SV" "$SV" > "$SCONF"

# expect_file FILE DESCRIPTION: stdout is exactly FILE's bytes
expect_file() {
    if cmp -s "$1" "$OUT"; then ok; else fail "$2: stdout differs from $1"; fi
}

VN=$(printf 'Vacation r\303\250gles')   # a UTF-8 name (è)

# --- help ---------------------------------------------------------------------
run "" sieve --help;               expect_rc 0 "sieve --help"
for c in "sieve list" "sieve get" "sieve put" "sieve activate" "sieve deactivate" "sieve delete" "sieve rename" \
         "sieve check" "sieve test"; do
    # shellcheck disable=SC2086
    run "" $c --help;              expect_rc 0 "$c --help"
    if [ -s "$ERR" ]; then fail "$c --help wrote to stderr"; else ok; fi
done
run "" -C "$SCONF" sieve list;     expect_rc 64 "sieve list without user"
run "" -C "$SCONF" sieve put sue;  expect_rc 64 "sieve put without name"
run "" -C "$SCONF" sieve rename sue a; expect_rc 64 "sieve rename with one name"
run "" -C "$SCONF" sieve delete --json sue a; expect_rc 64 "--json not for delete"

run "pw
" -C "$SCONF" user add sue;        expect_rc 0 "sieve: user add"

# --- put / list / get -----------------------------------------------------------
printf 'require "fileinto";\r\nif header :contains "subject" "x" { fileinto "X"; }\r\n' > "$SV/filter.sieve"
run "" -C "$SCONF" sieve list sue; expect_rc 0 "list: no scripts"
if [ -s "$OUT" ]; then fail "list of no scripts printed something"; else ok; fi
run "" -C "$SCONF" sieve put sue filter "$SV/filter.sieve"; expect_rc 0 "put from a file"
expect_out 'stored Sieve script "filter" of sue (74 bytes)' "put message"
run "keep;
" -C "$SCONF" sieve put sue "$VN"; expect_rc 0 "put from stdin, UTF-8 name"
run "discard;" -C "$SCONF" sieve put sue spam -; expect_rc 0 "put from stdin as -"
run "" -C "$SCONF" sieve list sue; expect_rc 0 "list"
expect_out "$VN 6 bytes" "list: utf-8 name"
expect_out "filter 74 bytes" "list: filter"
expect_out "spam 8 bytes" "list: spam"
run "" -C "$SCONF" sieve get sue filter; expect_rc 0 "get"
expect_file "$SV/filter.sieve" "get returns the exact bytes (CRLF kept)"
run "" -C "$SCONF" sieve get sue; expect_rc 1 "get the active script when none"
expect_err "NONEXISTENT" "no active script"
run "" -C "$SCONF" sieve get sue nope; expect_rc 1 "get missing script"
expect_err "NONEXISTENT: sue has no Sieve script \"nope\"" "missing script message"
run "" -C "$SCONF" sieve get nobody filter; expect_rc 67 "get: unknown user"
run "" -C "$SCONF" sieve put nobody x "$SV/filter.sieve"; expect_rc 67 "put: unknown user"
run "" -C "$SCONF" sieve put sue x "$SV/missing"; expect_rc 66 "put: unreadable file"

# --- the active script ------------------------------------------------------------
run "" -C "$SCONF" sieve activate sue filter; expect_rc 0 "activate"
run "" -C "$SCONF" sieve list sue; expect_out "filter 74 bytes active" "listed active"
expect_no_out "spam 8 bytes active" "only one active"
run "" -C "$SCONF" sieve activate sue spam; expect_rc 0 "activate another"
run "" -C "$SCONF" sieve list sue; expect_out "filter 74 bytes" "previous no longer active"
expect_out "spam 8 bytes active" "new one active"
run "" -C "$SCONF" sieve get sue; expect_rc 0 "get the active script"
expect_out "discard;" "the active script's source"
run "" -C "$SCONF" sieve activate sue nope; expect_rc 1 "activate missing script"
expect_err "NONEXISTENT" "activate missing: code"
run "" -C "$SCONF" sieve list sue; expect_out "spam 8 bytes active" "failed activate changed nothing"
run "" -C "$SCONF" sieve delete sue spam; expect_rc 1 "delete the active script"
expect_err "ACTIVE: \"spam\" is sue's active script" "ACTIVE code"
run "" -C "$SCONF" sieve list --json sue; expect_rc 0 "list --json"
expect_json "list --json" "len(j)==3 and [s['name'] for s in j if s['active']]==['spam'] and all(s['compiled_version']==1 and s['mtime']>0 for s in j)"
run "" -C "$SCONF" sieve get --json sue filter; expect_rc 0 "get --json"
expect_json "get --json" "j['name']=='filter' and j['size']==74 and j['source'].startswith('require \"fileinto\";\\r\\n') and not j['active']"

# --- limits: 1 KiB, 3 scripts; quota ----------------------------------------------------
head -c 1024 /dev/zero | tr '\0' '#' > "$SV/k1"
head -c 1025 /dev/zero | tr '\0' '#' > "$SV/k1plus"
run "" -C "$SCONF" sieve put sue big "$SV/k1plus"; expect_rc 1 "put over sieve_maxscriptsize"
expect_err "QUOTA/MAXSIZE" "MAXSIZE code"
run "" -C "$SCONF" sieve put sue filter "$SV/k1"; expect_rc 0 "put exactly sieve_maxscriptsize (replace)"
run "" -C "$SCONF" sieve put sue fourth "$SV/filter.sieve"; expect_rc 1 "put over sieve_maxscripts"
expect_err "QUOTA/MAXSCRIPTS" "MAXSCRIPTS code"
run "" -C "$SCONF" sieve list sue; expect_no_out "fourth.*" "nothing stored"
run "" -C "$SCONF" quota get sue; expect_out "user/sue  storage 2/unlimited KiB.*" "scripts count in the user quota"
run "" -C "$SCONF" quota set sue storage=2; expect_rc 0 "quota 2 KiB"
run "" -C "$SCONF" sieve put sue "$VN" "$SV/k1"; expect_rc 1 "put over quota"
expect_err "QUOTA: the script would take sue over the storage quota" "QUOTA code"
run "" -C "$SCONF" sieve get sue "$VN"; expect_out "keep;" "over-quota put kept the old script"
run "" -C "$SCONF" quota recalc sue; expect_out "user/sue: ok" "quota usage matches the scripts"
run "" -C "$SCONF" quota set sue storage=none; expect_rc 0 "quota removed"

# --- rename / delete ------------------------------------------------------------------
run "" -C "$SCONF" sieve rename sue filter spam; expect_rc 73 "rename onto an existing script"
expect_err "ALREADYEXISTS" "ALREADYEXISTS code"
run "" -C "$SCONF" sieve rename sue nope x; expect_rc 1 "rename a missing script"
expect_err "NONEXISTENT" "rename missing: code"
run "" -C "$SCONF" sieve rename sue spam "Junk filter"; expect_rc 0 "rename the active script"
run "" -C "$SCONF" sieve list sue; expect_out "Junk filter 8 bytes active" "renamed script stays active"
run "" -C "$SCONF" sieve put sue "bad$(printf '\001')name" "$SV/filter.sieve"; expect_rc 65 "put: control character in name"
expect_err "invalid script name" "bad name message"
run "" -C "$SCONF" sieve rename sue filter "a$(printf '\342\200\250')b"; expect_rc 65 "rename to U+2028"
long=$(head -c 513 /dev/zero | tr '\0' 'n')
run "" -C "$SCONF" sieve put sue "$long" "$SV/filter.sieve"; expect_rc 65 "put: name over 512 bytes"
run "" -C "$SCONF" sieve delete sue nope; expect_rc 1 "delete missing script"
expect_err "NONEXISTENT" "delete missing: code"
run "" -C "$SCONF" sieve deactivate sue; expect_rc 0 "deactivate"
run "" -C "$SCONF" sieve deactivate sue; expect_rc 0 "deactivate with none active"
run "" -C "$SCONF" sieve delete sue "Junk filter"; expect_rc 0 "delete after deactivate"
run "" -C "$SCONF" sieve list sue; expect_no_out "Junk filter.*" "deleted"
run "" -C "$SCONF" sieve put --activate sue fresh "$SV/filter.sieve"; expect_rc 0 "put --activate"
expect_out 'stored Sieve script "fresh" of sue (74 bytes), active' "put --activate message"

# --- compile at upload, check, test ------------------------------------------------------
printf 'require "fileinto";\nif true {\n  fileinto "X" }\n' > "$SV/err.sieve"
run "" -C "$SCONF" sieve put sue broken "$SV/err.sieve"; expect_rc 65 "put: a script with errors is refused"
expect_err "sieve put: broken: 3:16: error: " "put: the error with line:column"
run "" -C "$SCONF" sieve list sue; expect_no_out "broken .*" "put with errors stored nothing"
run "" -C "$SCONF" sieve list --json sue
expect_json "put stores the compiled form" "[s['compiled_version'] for s in j if s['name']=='fresh']==[1]"
run "" -C "$SCONF" sieve check sue fresh; expect_rc 0 "check a stored script"
expect_out "fresh: OK" "check: OK"
run "" -C "$SCONF" sieve check sue nope; expect_rc 1 "check a missing script"
expect_err "NONEXISTENT" "check missing: code"
run "" -C "$SCONF" sieve check sue --file "$SV/err.sieve"; expect_rc 65 "check --file with errors"
expect_out "$SV/err.sieve:3:16: error: .*" "check: line:column"
run "" -C "$SCONF" sieve check --json sue --file "$SV/err.sieve"; expect_rc 65 "check --json"
expect_json "check --json" "not j['ok'] and j['diagnostics'][0]['line']==3 and j['diagnostics'][0]['column']==16 and j['diagnostics'][0]['severity']=='error'"
run "" -C "$SCONF" sieve check sue fresh --file "$SV/err.sieve"; expect_rc 64 "check: NAME and --file"
run "" -C "$SCONF" sieve check nobody --file "$SV/err.sieve"; expect_rc 67 "check --file: unknown user"
printf 'require ["fileinto","imap4flags","envelope","vacation"];\nif envelope :is "from" "boss@example.org" { fileinto :flags "\\\\Flagged" "Boss"; stop; }\nif header :contains "subject" "money" { discard; stop; }\nvacation :days 3 "away";\n' > "$SV/t.sieve"
printf 'From: boss@example.org\r\nTo: sue@example.org\r\nSubject: money\r\n\r\nhi\r\n' > "$SV/t.eml"
run "" -C "$SCONF" sieve test --from boss@example.org sue "$SV/t.sieve" "$SV/t.eml"; expect_rc 0 "test"
expect_out 'fileinto "Boss" flags=\\Flagged' "test: fileinto with flags (envelope from)"
run "" -C "$SCONF" sieve test sue "$SV/t.sieve" "$SV/t.eml"; expect_rc 0 "test without --from"
expect_out "discard" "test: discard"
printf 'From: x@example.org\r\nSubject: hi\r\n\r\nhi\r\n' > "$SV/t2.eml"
run "" -C "$SCONF" sieve test --json --from x@example.org --to sue@example.org sue "$SV/t.sieve" "$SV/t2.eml"
expect_rc 0 "test --json"
expect_json "test --json: vacation and the implicit keep" "j['error'] is None and [a['action'] for a in j['actions']]==['vacation','keep'] and j['actions'][0]['seconds']==259200 and j['actions'][1]['implicit']"
run "" -C "$SCONF" sieve test sue "$SV/err.sieve" "$SV/t.eml"; expect_rc 65 "test: script with errors"
expect_err "3:16: error" "test: the error with line:column"
run "" -C "$SCONF" sieve test sue "$SV/t.sieve" "$SV/missing.eml"; expect_rc 66 "test: missing message"
run "" -C "$SCONF" sieve test nobody "$SV/t.sieve" "$SV/t.eml"; expect_rc 67 "test: unknown user"

# --- scripts follow the account -----------------------------------------------------------
# a run-time error at delivery puts an entry in duplicate.db's sieve_log,
# which must follow the rename and go with the delete
run "$(printf 'From: a@example.org\r\nSubject: x\r\n\r\nhi\r\n')" -C "$SCONF" deliver -f a@example.org sue
expect_rc 0 "deliver: run-time error (fresh files into a missing X), kept"
run "" -C "$SCONF" sieve log sue; expect_out '.* fresh: fileinto into X failed .*' "the run-time error is logged"
run "" -C "$SCONF" user rename sue sam; expect_rc 0 "user rename"
run "" -C "$SCONF" sieve log sam; expect_out '.* fresh: fileinto into X failed .*' "the sieve log follows the rename"
run "" -C "$SCONF" sieve list sam; expect_out "fresh 74 bytes active" "scripts renamed with the account"
run "" -C "$SCONF" sieve get sam filter; expect_file "$SV/k1" "script content after rename"
run "" -C "$SCONF" sieve list sue; expect_rc 67 "old name gone"
run "" -C "$SCONF" user move-partition sam p2; expect_rc 0 "move to p2"
if [ -f "$SV/p2/user/s/sam/mail.db" ]; then ok; else fail "store not on p2"; fi
run "" -C "$SCONF" sieve list sam; expect_out "fresh 74 bytes active" "scripts moved with the store"
run "" -C "$SCONF" sieve get sam; expect_file "$SV/filter.sieve" "active script after the move"
run "" -C "$SCONF" user del sam; expect_rc 0 "user del"
run "pw
" -C "$SCONF" user add sam;        expect_rc 0 "user add again"
run "" -C "$SCONF" sieve list sam; expect_rc 0 "list of the new account"
if [ -s "$OUT" ]; then fail "scripts of the deleted account came back"; else ok; fi
run "" -C "$SCONF" sieve log sam; expect_rc 0 "sieve log of the new account"
if [ -s "$OUT" ]; then fail "the deleted account's sieve log came back: $(cat "$OUT")"; else ok; fi
