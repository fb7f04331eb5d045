0require ["envelope", "subaddress"];
if anyof (address :domain :is "from" "example.org", envelope :detail "to" "box") { redirect "x@example.com"; keep; }
if size :over 1K { stop; }
