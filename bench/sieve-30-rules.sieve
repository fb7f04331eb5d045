# bench/sieve-30-rules.sieve - the script `make bench` (mode lmtpsieve)
# activates for every bench user: 30 rules of the kinds users write
# (header, address and envelope tests, fileinto, flags), most of which do
# not match a given message, as in real filters. Of the benchmark's
# messages (bench/conn.c bench_make_message) about one in six is filed
# by a subject rule and a few are flagged by an address rule;
# the rest are kept in INBOX.
require ["fileinto", "envelope", "imap4flags", "mailbox", "variables"];

# mailing lists by List-Id (none of the benchmark's messages are list mail)
if header :contains "List-Id" "<announce.lists.example.net>" { fileinto :create "Lists/announce"; stop; }
if header :contains "List-Id" "<dev.lists.example.net>" { fileinto :create "Lists/dev"; stop; }
if header :contains "List-Id" "<users.lists.example.net>" { fileinto :create "Lists/users"; stop; }
if header :is "Precedence" ["bulk", "junk"] { fileinto :create "Bulk"; stop; }
if exists "List-Unsubscribe" { fileinto :create "Newsletters"; stop; }

# spam and virus scanner verdicts
if header :contains "X-Spam-Flag" "YES" { fileinto :create "Junk"; stop; }
if header :matches "X-Spam-Level" "*****" { fileinto :create "Junk"; stop; }
if header :contains "X-Virus-Status" "Infected" { fileinto :create "Quarantine"; stop; }

# senders by address and domain
if address :is :domain "from" "spam.example" { discard; stop; }
if address :is :domain "from" ["billing.example", "invoices.example"] { fileinto :create "Billing"; stop; }
if address :is "from" "boss@example.com" { addflag "\\Flagged"; }
if address :localpart :is "from" ["sender7", "sender19", "sender41"] { addflag "$Important"; }
if address :all :is "to" "root@example.com" { fileinto :create "Admin"; stop; }
if address :domain :is "cc" "partner.example" { addflag "$Partner"; }
if address :localpart :matches "from" "noreply*" { fileinto :create "Notifications"; stop; }

# envelope
if envelope :is "from" "" { fileinto :create "Bounces"; stop; }
if envelope :domain :is "from" "calendar.example" { fileinto :create "Calendar"; stop; }
if envelope :localpart :is "from" "mailer-daemon" { fileinto :create "Bounces"; stop; }
if envelope :all :matches "to" "*+archive@*" { fileinto :create "Archive"; stop; }

# subjects
if header :contains "subject" "budget" { addflag "$Budget"; fileinto :create "Budget"; stop; }
if header :contains "subject" ["[JIRA]", "[Jenkins]"] { fileinto :create "CI"; stop; }
if header :matches "subject" "Out of office*" { discard; stop; }
if header :contains "subject" "invoice" { fileinto :create "Billing"; stop; }
if header :matches "subject" "*deadline*" { addflag "$Deadline"; }
if anyof (header :contains "subject" "urgent", header :contains "Importance" "high") { addflag "\\Flagged"; }
if allof (address :domain :is "from" "example.org", header :contains "subject" "release") { fileinto :create "Releases"; stop; }

# other headers and size
if header :contains "X-Mailer" "Outlook Express" { addflag "$Old"; }
if header :is "Auto-Submitted" "auto-replied" { fileinto :create "Autoreplies"; stop; }
if not exists "Date" { fileinto :create "Suspicious"; stop; }
if size :over 10M { fileinto :create "Large"; stop; }
