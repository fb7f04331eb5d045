0require "reject";
/* comment */ if not exists "x" { reject text: # c
sorry
..dot
.
; }
