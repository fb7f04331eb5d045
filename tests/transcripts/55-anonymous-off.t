# allowanonymouslogin is off by default: no AUTH=ANONYMOUS, and both
# AUTHENTICATE ANONYMOUS and LOGIN anonymous are refused.
@user alice secret
@sleepless
@connect plain
S~ \* OK \[CAPABILITY (?!.*AUTH=ANONYMOUS)[^]]*\] .*
C: a1 CAPABILITY
S~ \* CAPABILITY (?!.*AUTH=ANONYMOUS).*
S~ a1 OK .*
C: a2 AUTHENTICATE ANONYMOUS Z3Vlc3Q=
S~ a2 NO .*
C: a3 LOGIN anonymous guest@example.org
S~ a3 NO \[AUTHENTICATIONFAILED\].*
C: a4 LOGIN alice secret
S~ a4 OK .*
