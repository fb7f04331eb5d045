0require ["body", "regex", "variables"];
if body :content "text" :contains "caf" { discard; }
if body :raw :regex "^[A-Z]+$" { keep; }
if header :regex "subject" "(caf.) (t.*)" { set "x" "${2}"; }
