0require ["include", "variables", "ihave"];
global "v"; set "v" "1";
include "a"; include :global "g"; include :optional "missing";
if ihave "frob" { frob; }
return;
