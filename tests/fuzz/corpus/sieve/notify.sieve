0require ["enotify", "variables", "duplicate", "environment", "special-use", "mailboxid", "fileinto", "ereject"];
if duplicate :seconds 60 { discard; stop; }
if environment :is "domain" "example.org" { notify :importance "1" :message "hi" "mailto:a@example.org"; }
if specialuse_exists "\\Junk" { fileinto :specialuse "\\Junk" "Spam"; }
if mailboxidexists "x" { ereject "no"; }
