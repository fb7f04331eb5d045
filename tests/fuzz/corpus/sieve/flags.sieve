0require ["imap4flags", "variables", "fileinto", "copy", "mailbox"];
setflag "\\Seen"; addflag "f" ["a", "b"]; removeflag "a";
if hasflag :contains "f" "b" { fileinto :copy :create :flags "${f}" "Box"; }
