0require ["relational", "comparator-i;ascii-numeric", "spamtestplus", "virustest"];
if spamtest :percent :value "ge" :comparator "i;ascii-numeric" "40" { discard; }
if address :count "gt" :comparator "i;ascii-numeric" ["from","to"] "1" { keep; }
if virustest :value "eq" :comparator "i;ascii-numeric" "0" { keep; }
