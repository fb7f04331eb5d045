0require ["editheader", "index"];
addheader "X-A" "b"; addheader :last "X-B" "café";
deleteheader :index 1 :last :contains "subject" "test";
if exists "x-a" { keep; }
