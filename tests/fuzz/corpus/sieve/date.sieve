0require ["date", "index", "relational"];
if date :index 1 :last :zone "-0800" "received" "date" "2026-12-01" { discard; }
if currentdate :value "ge" "iso8601" "2020" { keep; }
if date :originalzone "date" "weekday" "2" { keep; }
