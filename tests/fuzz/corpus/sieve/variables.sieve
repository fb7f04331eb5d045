0require ["variables", "fileinto", "encoded-character"];
if header :matches "subject" "* *" { set :lower :upperfirst "a" "${1}"; fileinto "${a}${hex:41}${unicode:263a}"; }
if string :is "${a}" "" { discard; }
