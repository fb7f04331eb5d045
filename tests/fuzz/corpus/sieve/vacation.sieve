0require ["vacation", "vacation-seconds", "fcc", "imap4flags"];
vacation :seconds 3600 :subject "away" :from "me@example.org" :addresses ["a@b.c"] :mime :handle "h" :fcc "Sent" :flags "\\Seen" "text";
