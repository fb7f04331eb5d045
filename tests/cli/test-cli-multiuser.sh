# shellcheck shell=sh
# test-cli-multiuser.sh - the multi-user commands of the darius CLI (issue 3):
# acl, admin-namespace mailbox commands, mailbox list --all, sharedseen,
# user add --partition/--quota, user info/rename/move-partition, --json.
#
# Sourced by test-cli.sh (uses its run/expect_* helpers, $D, $T, counters);
# it sets up its own data directory with a second partition.

MU=$T/mu
mkdir -p "$MU/p2"
MCONF=$MU/darius.conf
printf 'datadir: %s/var\npartition-p2: %s/p2\nadmins: cyrus\n' "$MU" "$MU" > "$MCONF"

# expect_json DESCRIPTION [PYTHON-EXPR]: stdout is one valid JSON value
# (python3 -m json.tool), and EXPR (over the parsed value `j`) holds.
expect_json() {
    if ! command -v python3 >/dev/null 2>&1; then ok; return; fi
    if python3 -m json.tool "$OUT" >/dev/null 2>&1; then ok; else fail "$1: invalid JSON"; return; fi
    if [ -n "$2" ]; then
        if python3 -c "import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" "$OUT"; then
            ok
        else
            fail "$1: JSON check failed: $2"
        fi
    fi
}

# --- help for the new commands ------------------------------------------------
run "" acl --help;                 expect_rc 0 "acl --help"
for c in "acl set" "acl delete" "acl list" "acl reindex" "user rename" "user info" \
         "user move-partition" "mailbox sharedseen"; do
    # shellcheck disable=SC2086
    run "" $c --help;              expect_rc 0 "$c --help"
    if [ -s "$ERR" ]; then fail "$c --help wrote to stderr"; else ok; fi
done
run "" --help; expect_out "  acl set .*" "main help lists acl set"
expect_out "  user move-partition .*" "main help lists move-partition"

# --- user add with partition and quota -------------------------------------------
run "pw
" -C "$MCONF" user add --partition p2 --quota 500 alice
expect_rc 0 "user add --partition --quota"
if [ -d "$MU/p2/user/a/alice" ]; then ok; else fail "alice's store not on partition p2"; fi
run "" -C "$MCONF" user info alice --json; expect_rc 0 "user info --json"
expect_json "user info" 'j["name"]=="alice" and j["partition"]=="p2" and j["quota"]["storage"]["limit"]==500 and j["mailboxes"]>=1'
run "" -C "$MCONF" user info alice; expect_rc 0 "user info text"
expect_out "partition: p2" "user info partition line"
run "pw
" -C "$MCONF" user add --partition=nosuch dave; expect_rc 65 "user add unknown partition"
expect_err "unknown partition: nosuch" "unknown partition message"
run "" -C "$MCONF" user list; expect_no_out "dave" "no user left by a failed add"
run "pw
" -C "$MCONF" user add --quota lots dave; expect_rc 64 "user add bad --quota"
run "pw
" -C "$MCONF" user add dave --partition; expect_rc 64 "--partition without value"
run "pw
" -C "$MCONF" user add --password-stdin bob; expect_rc 0 "user add --password-stdin"
run "" -C "$MCONF" user add --locked carol; expect_rc 0 "user add --locked (no password)"
run "" -C "$MCONF" user list --json; expect_rc 0 "user list --json"
expect_json "user list" '{u["name"]:u["partition"] for u in j}=={"alice":"p2","bob":"default","carol":"default"}'
run "" -C "$MCONF" user info nobody; expect_rc 67 "user info unknown user"
run "" -C "$MCONF" user list --dry-run; expect_rc 64 "user list with a foreign option"

# --- mailboxes in the admin namespace -----------------------------------------------
run "" -C "$MCONF" mailbox create user/bob/Sent user/bob/Work; expect_rc 0 "mailbox create user/bob/..."
run "" -C "$MCONF" mailbox list bob; expect_out "Sent 0 messages" "created in bob's store"
run "" -C "$MCONF" mailbox create "Shared Folders/news"; expect_rc 0 "create shared mailbox"
run "" -C "$MCONF" mailbox create 'user/bob/Q"uo\te'; expect_rc 0 "create name with quote and backslash"
run "" -C "$MCONF" mailbox create user/nobody/X; expect_rc 1 "create in unknown user's store"
run "" -C "$MCONF" mailbox create Sent; expect_rc 64 "mailbox create: one non-admin name"
run "" -C "$MCONF" mailbox create user/bob/Sent; expect_rc 73 "create existing mailbox"
run "" -C "$MCONF" mailbox list --all; expect_rc 0 "mailbox list --all"
expect_out "user/bob/Sent 0 messages" "--all: bob's Sent"
expect_out "user/alice 0 messages" "--all: alice's INBOX as user/alice"
expect_out "Shared Folders/news 0 messages" "--all: shared mailbox"
run "" -C "$MCONF" mailbox list --all --json; expect_rc 0 "mailbox list --all --json"
expect_json "list --all" 'any(m["name"]=="user/bob/Q\"uo\\te" and m["store"]=="bob" and m["mailbox"]=="Q\"uo\\te" for m in j) and any(m["name"]=="Shared Folders/news" for m in j)'
run "" -C "$MCONF" mailbox list bob --json; expect_rc 0 "mailbox list USER --json"
expect_json "list USER" 'sorted(m["mailbox"] for m in j)==sorted(["INBOX","Sent","Work","Q\"uo\\te"])'
run "" -C "$MCONF" mailbox list; expect_rc 64 "mailbox list without USER or --all"
run "" -C "$MCONF" mailbox list --all bob; expect_rc 64 "mailbox list --all with USER"
run "" -C "$MCONF" mailbox rename user/bob/Work user/bob/Jobs; expect_rc 0 "admin rename inside a store"
run "" -C "$MCONF" mailbox list bob; expect_out "Jobs 0 messages" "renamed"; expect_no_out "Work 0 messages" "old gone"
run "" -C "$MCONF" mailbox rename user/bob/NoSuch user/bob/X; expect_rc 1 "rename unknown mailbox"
run "" -C "$MCONF" mailbox create "Shared Folders/tmp" "Shared Folders/tmp/sub"; expect_rc 0 "create shared child"
run "" -C "$MCONF" mailbox rename "Shared Folders/tmp" "Shared Folders/tmp2"; expect_rc 0 "rename shared"
run "" -C "$MCONF" mailbox list --all; expect_out "Shared Folders/tmp2/sub 0 messages" "shared child renamed along"
run "" -C "$MCONF" mailbox delete "Shared Folders/tmp2/sub" "Shared Folders/tmp2"; expect_rc 0 "delete shared"
run "" -C "$MCONF" mailbox list --all; expect_no_out "Shared Folders/tmp2.*" "shared deleted"
run "" -C "$MCONF" mailbox rename user/bob/Jobs "Shared Folders/Jobs"; expect_rc 1 "rename across stores refused"
expect_err "not supported\\|cannot\\|not possible" "across stores message"
run "" -C "$MCONF" mailbox delete user/bob/Jobs; expect_rc 0 "admin delete"
run "" -C "$MCONF" mailbox delete user/bob/Jobs; expect_rc 1 "admin delete twice"

# --- ACLs ---------------------------------------------------------------------------
run "" -C "$MCONF" acl set user/bob/Sent alice lrs; expect_rc 0 "acl set"
run "" -C "$MCONF" acl list user/bob/Sent; expect_rc 0 "acl list"; expect_out "alice lrs" "entry set"
run "" -C "$MCONF" acl set user/bob/Sent alice +w; expect_rc 0 "acl set +"
run "" -C "$MCONF" acl list user/bob/Sent; expect_out "alice lrsw" "right added"
run "" -C "$MCONF" acl set user/bob/Sent alice -s; expect_rc 0 "acl set - (dash operand)"
run "" -C "$MCONF" acl list user/bob/Sent; expect_out "alice lrw" "right removed"
run "" -C "$MCONF" acl set user/bob/Sent -anyone w; expect_rc 0 "negative entry"
run "" -C "$MCONF" acl list --json user/bob/Sent; expect_rc 0 "acl list --json"
expect_json "acl list" 'j["mailbox"]=="user/bob/Sent" and {"id":"alice","rights":"lrw","negative":False} in j["acl"] and {"id":"-anyone","rights":"w","negative":True} in j["acl"]'
run "" -C "$MCONF" acl set user/bob/Sent 'group:q"t\x' lrc; expect_rc 0 "acl set: id with quote/backslash, obsolete c"
run "" -C "$MCONF" acl list --json user/bob/Sent
expect_json "acl id escaped" '{"id":"group:q\"t\\x","rights":"lrkxc","negative":False} in j["acl"]'
run "" -C "$MCONF" acl delete user/bob/Sent 'group:q"t\x'; expect_rc 0 "acl delete quoted id"
run "" -C "$MCONF" acl set user/bob/Sent "$(printf 'a\tb')" lr; expect_rc 65 "control character in identifier"
run "" -C "$MCONF" acl set user/bob/Sent alice lrz; expect_rc 65 "bad rights letter"
expect_err "invalid rights" "bad rights message"
run "" -C "$MCONF" acl set user/bob/NoSuch alice lr; expect_rc 1 "acl set unknown mailbox"
expect_err "no such mailbox" "unknown mailbox message"
run "" -C "$MCONF" acl list user/nobody; expect_rc 1 "acl list unknown user"
run "" -C "$MCONF" acl list Sent; expect_rc 65 "acl list: not an admin-namespace name"
run "" -C "$MCONF" acl set user/bob/Sent alice; expect_rc 64 "acl set without rights"
run "" -C "$MCONF" acl set "Shared Folders/news" anyone lrs; expect_rc 0 "acl set shared"
run "" -C "$MCONF" acl set --json user/bob alice lr; expect_rc 0 "acl set --json on user/bob (INBOX)"
expect_json "acl set" 'j["mailbox"]=="user/bob" and {"id":"alice","rights":"lr","negative":False} in j["acl"]'
run "" -C "$MCONF" acl delete user/bob/Sent alice; expect_rc 0 "acl delete"
run "" -C "$MCONF" acl list user/bob/Sent; expect_no_out "alice .*" "entry deleted"
run "" -C "$MCONF" acl delete user/bob/Sent alice; expect_rc 0 "acl delete absent entry"
run "" -C "$MCONF" acl delete user/bob/NoSuch alice; expect_rc 1 "acl delete unknown mailbox"
run "" -C "$MCONF" acl reindex; expect_rc 0 "acl reindex"; expect_out "share index rebuilt from .*" "reindex text"
run "" -C "$MCONF" acl reindex --json; expect_rc 0 "acl reindex --json"
expect_json "reindex" 'j["count"]==len(j["stores"]) and "bob" in j["stores"]'

# --- sharedseen -----------------------------------------------------------------------
run "" -C "$MCONF" mailbox sharedseen "Shared Folders/news" yes; expect_rc 0 "sharedseen yes"
run "" -C "$MCONF" mailbox list --all --json
expect_json "sharedseen listed" 'any(m["name"]=="Shared Folders/news" and m["sharedseen"] for m in j)'
run "" -C "$MCONF" mailbox sharedseen "Shared Folders/news" no; expect_rc 0 "sharedseen no"
run "" -C "$MCONF" mailbox list --all --json
expect_json "sharedseen off" 'any(m["name"]=="Shared Folders/news" and not m["sharedseen"] for m in j)'
run "" -C "$MCONF" mailbox sharedseen "Shared Folders/news" maybe; expect_rc 64 "sharedseen bad value"
run "" -C "$MCONF" mailbox sharedseen user/bob/NoSuch yes; expect_rc 1 "sharedseen unknown mailbox"

# --- move-partition -------------------------------------------------------------------
MSG='From: a@example.com
To: alice@example.com
Subject: move me

body
'
run "$MSG" -C "$MCONF" deliver alice; expect_rc 0 "deliver 1"
run "$MSG" -C "$MCONF" deliver alice; expect_rc 0 "deliver 2"
run "" -C "$MCONF" user move-partition alice default; expect_rc 0 "move-partition p2 -> default"
expect_out "user alice moved from partition p2 to default .*" "move text"
if [ -d "$MU/var/user/a/alice" ] && [ ! -d "$MU/p2/user/a/alice" ]; then ok; else fail "store not moved to default"; fi
run "" -C "$MCONF" mailbox list alice; expect_out "INBOX 2 messages" "messages after move"
run "" -C "$MCONF" quota get user/alice; expect_out "user/alice  storage [0-9]*/500 KiB  messages 2/unlimited.*" "quota after move"
run "" -C "$MCONF" user move-partition --json alice p2; expect_rc 0 "move-partition back --json"
expect_json "move json" 'j=={"name":"alice","from":"default","to":"p2","moved":True}'
run "" -C "$MCONF" user info --json alice
expect_json "info after move" 'j["partition"]=="p2" and j["messages"]==2'
run "" -C "$MCONF" user move-partition alice p2; expect_rc 0 "move to the same partition"
expect_out "user alice is already on partition p2" "same partition text"
run "" -C "$MCONF" user move-partition alice nosuch; expect_rc 65 "move to unknown partition"
run "" -C "$MCONF" user move-partition nobody p2; expect_rc 67 "move unknown user"

# --- user rename ------------------------------------------------------------------------
run "" -C "$MCONF" user rename bob robert; expect_rc 0 "user rename"
run "" -C "$MCONF" user list; expect_out "robert" "new name listed"; expect_no_out "bob" "old name gone"
run "" -C "$MCONF" mailbox list robert; expect_out "Sent 0 messages" "mailboxes follow the rename"
run "" -C "$MCONF" acl list user/robert/Sent; expect_rc 0 "ACL follows the rename"
expect_out "-anyone w" "ACL entries kept"
run "" -C "$MCONF" user rename robert alice; expect_rc 73 "rename onto an existing user"
run "" -C "$MCONF" user rename nobody x; expect_rc 67 "rename unknown user"
run "" -C "$MCONF" user rename robert "bad name"; expect_rc 64 "rename to an invalid name"
run "" -C "$MCONF" user rename --json robert bob; expect_rc 0 "rename back --json"
expect_json "rename json" 'j=={"from":"robert","to":"bob"}'

# --- accounts through the admin namespace ------------------------------------------------
run "" -C "$MCONF" mailbox create user/erin; expect_rc 0 "create account user/erin"
run "" -C "$MCONF" user list; expect_out "erin" "account created in userdb"
run "" -C "$MCONF" mailbox delete user/erin; expect_rc 0 "delete account user/erin"
run "" -C "$MCONF" user list; expect_no_out "erin" "account removed"

# --- the CLI's identity owns no store ----------------------------------------------------
# "cyrus" is the configured admin: its own mailboxes are an account like
# any other (user/cyrus/...), never the personal INBOX/Sent of the CLI.
run "pw
" -C "$MCONF" user add cyrus; expect_rc 0 "user add cyrus (the configured admin)"
run "" -C "$MCONF" mailbox create user/cyrus/Sent; expect_rc 0 "create the admin's own Sent"
run "" -C "$MCONF" mailbox list --all; expect_rc 0 "mailbox list --all with the admin's store"
expect_out "user/cyrus 0 messages" "--all: the admin's INBOX as user/cyrus"
expect_out "user/cyrus/Sent 0 messages" "--all: the admin's Sent as user/cyrus/Sent"
expect_no_out "INBOX 0 messages" "--all: no personal INBOX"
expect_no_out "Sent 0 messages" "--all: no personal Sent"
run "" -C "$MCONF" mailbox list --all --json
expect_json "--all admin store" 'any(m["name"]=="user/cyrus/Sent" and m["store"]=="cyrus" for m in j) and not any(m["name"] in ("INBOX","Sent") for m in j)'
run "" -C "$MCONF" acl list user/cyrus/Sent; expect_rc 0 "acl list of the admin's own mailbox"
expect_out "cyrus lrswipkxteancd" "the admin's owner entry shown by name"
run "" -C "$MCONF" mailbox delete user/cyrus; expect_rc 0 "delete the admin's account"

# --- shared quota roots (as IMAP SETQUOTA "Shared Folders") ------------------------------
run "" -C "$MCONF" quota set "Shared Folders" mailbox=50; expect_rc 0 "quota set on the shared prefix"
expect_out "Shared Folders  storage 0/unlimited KiB  messages 0/unlimited  mailboxes [0-9]*/50" "shared root set"
run "" -C "$MCONF" quota get --json "Shared Folders"; expect_rc 0 "quota get shared --json"
expect_json "shared root" 'j["root"]=="Shared Folders" and j["user"] is None and j["mailbox"]["limit"]==50'
run "" -C "$MCONF" quota set "Shared Folders/news" storage=100; expect_rc 0 "quota set on a shared sub-root"
run "" -C "$MCONF" quota get "Shared Folders/news"; expect_rc 0 "quota get shared sub-root"
expect_out "Shared Folders/news  storage 0/100 KiB.*" "shared sub-root shown"
run "" -C "$MCONF" quota get "Shared Folders/nosuch"; expect_rc 1 "quota get missing shared root"
run "" -C "$MCONF" quota set "Shared Folders/nosuch" storage=1; expect_rc 1 "quota set missing shared mailbox"
run "" -C "$MCONF" quota get "Shared Folders/"; expect_rc 64 "quota get: empty shared mailbox"
run "" -C "$MCONF" quota get "Shared Folders/INBOX"; expect_rc 64 "quota get: the shared store's INBOX"

# --- user check (mail_user_check) -------------------------------------------------
run "" user check --help;          expect_rc 0 "user check --help"
run "" -C "$MCONF" user check --dry-run alice; expect_rc 0 "user check --dry-run on a clean store"
expect_out "alice: ok" "user check ok line"
# a message file without a row, as a crash between a batch's files and its
# commit leaves; older than the hour check leaves to commits in progress
mkdir -p "$MU/p2/user/a/alice/msg/ab"
orphan=$MU/p2/user/a/alice/msg/ab/ab0123456789abcdef0123456789abcd
echo "orphan" > "$orphan"
touch -d '2 hours ago' "$orphan"
run "" -C "$MCONF" user check --dry-run alice; expect_rc 1 "user check --dry-run finds the orphan"
expect_out "alice: orphan message file .*" "orphan reported"
if [ -f "$orphan" ]; then ok; else fail "--dry-run removed the orphan"; fi
run "" -C "$MCONF" user check alice; expect_rc 0 "user check repairs"
expect_out "alice: 1 problem(s) repaired" "repair summary"
if [ -f "$orphan" ]; then fail "orphan file still there after user check"; else ok; fi
run "" -C "$MCONF" user check --dry-run alice nosuchuser; expect_rc 67 "user check of an unknown user"

# --- against a running dariusd (test-cli-live.py) ----------------------------------
# move-partition and rename with live sessions, ACL changes seen by IMAP.
# Each PASS/FAIL line of the script counts here.
if [ -x "$BUILD/dariusd" ] && command -v python3 >/dev/null 2>&1; then
    # tools/test.sh exports ASAN_OPTIONS for its sanitizer build: longer timeouts then.
    san=${DARIUS_SANITIZER:-}
    if [ -n "${ASAN_OPTIONS:-}" ]; then san=1; fi
    DARIUS_SANITIZER=$san DARIUS_BIN_DIR=$BUILD python3 "$(dirname "$0")/test-cli-live.py" >"$T/live.out" 2>&1
    live_rc=$?
    cat "$T/live.out"
    np=$(grep -c '^PASS ' "$T/live.out")
    nf=$(grep -c '^FAIL ' "$T/live.out")
    passed=$((passed + np))
    failed=$((failed + nf))
    if [ "$live_rc" -ne 0 ] && [ "$nf" -eq 0 ]; then fail "test-cli-live.py exited $live_rc"; fi
    if [ "$np" -eq 0 ] && [ "$nf" -eq 0 ]; then fail "test-cli-live.py ran nothing"; fi
else
    echo "SKIP cli-live: no $BUILD/dariusd or python3"
fi
