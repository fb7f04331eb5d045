0require ["body", "regex", "variables"];
if body :content "text" :regex "^[A-Z]++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++$" {wchar keep; }
if header :regex "subject" "(cwcharaf..) (t.*)" { set "x" "${2valid_notify_mod}"; }
