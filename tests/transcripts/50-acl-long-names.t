# A mailbox name as long as storage allows (and as deep) in another
# user's store is listed behind "Other Users/bob/" - longer than the
# store's own limit - and must be usable under that name: SELECT, STATUS,
# MYRIGHTS, GETQUOTAROOT. One byte more inside the store is refused.
@user alice secret
@user bob secret
@sleepless
@connect plain bob
S~ \* OK .*
C: b1 LOGIN bob secret
S~ b1 OK .*
C: b2 CREATE %{x*1024}
S~ b2 OK .*
C: b3 SETACL %{x*1024} alice lr
S~ b3 OK .*
C: b4 CREATE %{y*1025}
S~ b4 NO \[CANNOT\] Mailbox name too long
C: b5 CREATE "a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z/a/b/c/d/e/f/g/h/i/j/k/l"
S~ b5 OK .*
C: b6 SETACL "a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z/a/b/c/d/e/f/g/h/i/j/k/l" alice lr
S~ b6 OK .*
@connect plain alice
S~ \* OK .*
C: a1 LOGIN alice secret
S~ a1 OK .*
C: a2 LIST "" "Other Users/bob/x*"
S~ \* LIST \(\\HasNoChildren\) "/" \{1040\}\\r\\nOther Users/bob/x{1024}
S~ a2 OK .*
C: a3 SELECT "Other Users/bob/%{x*1024}"
S* a3 OK \[READ-ONLY\] .*
C: a4 STATUS "Other Users/bob/%{x*1024}" (MESSAGES)
S~ \* STATUS \{1040\}\\r\\nOther Users/bob/x{1024} \(MESSAGES 0\)
S~ a4 OK .*
C: a5 MYRIGHTS "Other Users/bob/%{x*1024}"
S~ \* MYRIGHTS \{1040\}\\r\\nOther Users/bob/x{1024} lr
S~ a5 OK .*
C: a6 GETQUOTAROOT "Other Users/bob/%{x*1024}"
S~ \* QUOTAROOT \{1040\}\\r\\nOther Users/bob/x{1024} "user/bob"
S~ \* QUOTA "user/bob" \(\)
S~ a6 OK .*
C: a7 EXAMINE "Other Users/bob/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z/a/b/c/d/e/f/g/h/i/j/k/l"
S* a7 OK \[READ-ONLY\] .*
# one byte (or level) more inside bob's store cannot exist
C: a8 STATUS "Other Users/bob/%{x*1025}" (MESSAGES)
S~ a8 NO \[NONEXISTENT\] Mailbox name too long
C: a9 STATUS "Other Users/bob/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z/a/b/c/d/e/f/g/h/i/j/k/l/m" (MESSAGES)
S~ a9 NO \[NONEXISTENT\] Mailbox hierarchy too deep
# and alice's own names stay within the store's limits
C: a10 CREATE %{z*1025}
S~ a10 NO \[CANNOT\] Mailbox name too long
