0require ["include", "variables", "ihave"];
global "v"; set "v" "1";
inclu d"a ";eincludm :global :overinclude :optional "missing";
if ihave 3"frob" { frob; }
return;
