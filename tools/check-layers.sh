#!/bin/sh
# check-layers.sh - enforce one-way layer dependencies (docs/architecture.md).
#
# A file in src/<layer>/ may include headers only from its own layer and the
# layers listed as allowed below it. Prints "layers: N passed, N failed".
cd "$(dirname "$0")/.." || exit 2

allowed() {
    case "$1" in
    lib) echo "lib" ;;
    net) echo "lib net" ;;
    frontend) echo "lib net frontend" ;;
    mail) echo "lib mail" ;;
    sieve) echo "lib mail sieve" ;;
    storage) echo "lib mail storage" ;;
    auth) echo "lib net auth" ;;
    access) echo "lib storage auth access" ;;
    delivery) echo "lib mail sieve storage auth access delivery" ;;
    imap) echo "lib net frontend mail storage auth access imap" ;;
    pop3) echo "lib net frontend mail storage auth access pop3" ;;
    lmtp) echo "lib net frontend mail sieve storage delivery auth access lmtp" ;;
    managesieve) echo "lib net frontend mail sieve storage auth access delivery managesieve" ;;
    daemon) echo "lib net frontend mail sieve storage delivery auth access imap pop3 lmtp managesieve daemon" ;;
    cli) echo "lib mail sieve storage delivery auth access cli" ;;
    *) echo "" ;;
    esac
}

# Map each project header name to its layer.
headers=$(cd src && ls */*.h)
fail=0
pass=0
for f in src/*/*.c src/*/*.h; do
    layer=$(echo "$f" | cut -d/ -f2)
    ok_layers=$(allowed "$layer")
    bad=""
    for inc in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f"); do
        hl=""
        for h in $headers; do
            [ "$(basename "$h")" = "$(basename "$inc")" ] && hl=$(dirname "$h")
        done
        [ -z "$hl" ] && continue
        case " $ok_layers " in
        *" $hl "*) ;;
        *) bad="$bad $inc($hl)" ;;
        esac
    done
    if [ -n "$bad" ]; then
        echo "layer violation: $f ($layer) includes$bad"
        fail=$((fail + 1))
    else
        pass=$((pass + 1))
    fi
done
echo "layers: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
