// bounce_rules_test.cc - the bounce categories against real replies of real receivers.
//
// Each reply is written as Hato records it (Reply::text(): the code, then the lines joined
// by " / "), with its source in the comment before it:
//   [google]    Google Workspace Admin Help, "SMTP error reference" (support.google.com/a/
//               answer/3726730), as also quoted in Sisimai 4.25 Rhost/GoogleApps.pm
//   [ms-ndr]    Microsoft Learn, "Email non-delivery reports and SMTP errors in Exchange
//               Online"; [ms-olc] Outlook.com postmaster troubleshooting (sendersupport.olc.
//               protection.outlook.com/pm/troubleshooting.aspx)
//   [yahoo]     Yahoo Sender Hub, "SMTP error codes" (senders.yahooinc.com/smtp-error-codes)
//   [apple]     Apple, "Postmaster information for iCloud Mail" (support.apple.com/HT204137)
//   [gmx]       GMX / WEB.DE postmaster, "Error messages" (postmaster.gmx.net/en/error-messages,
//               postmaster.web.de/en/error-messages)
//   [mailru]    Mail.ru postmaster help (help.mail.ru/mail/postmaster) and the Mail.ru
//               phrase in Sisimai 4.25 Reason/SpamDetected.pm
//   [comcast]   Comcast postmaster, "SMTP error codes" (postmaster.comcast.net)
//   [postfix]   Postfix's default reply texts (postconf(5): *_reject_code texts, smtpd(8))
//   [exim]      Exim's default reply texts (Exim specification, ACL and router chapters)
//   [exchange]  Exchange Server on-premises NDR texts (Microsoft Learn, "NDRs in Exchange
//               Server")
//   [sisimai]   phrases of Sisimai 4.25 (Debian libsisimai-perl) Reason/*.pm, which collects
//               them from bounce mails of the receivers named there
#include <boost/test/unit_test.hpp>

#include <cctype>
#include <string>
#include <vector>

#include "policy/bounce_rules.h"

namespace hato::policy {
namespace {

struct Case {
  std::string provider;
  std::string reply;
  std::string category;
};

// The code and enhanced code as the delivery engine takes them from a reply.
std::string enhanced_of(const std::string& reply) {
  if (reply.size() < 5) return "";
  std::string word = reply.substr(4, reply.find(' ', 4) - 4);
  if (word.size() >= 5 && std::isdigit(static_cast<unsigned char>(word[0])) && word[1] == '.')
    return word;
  return "";
}

std::string classify(const BounceRules& rules, const Case& c) {
  std::string dsn = enhanced_of(c.reply);
  return rules.classify({dsn, c.reply, c.provider, c.reply[0] == '5'});
}

const std::vector<Case> kCorpus = {
    // --- Gmail ---
    // [google] 550 5.1.1
    {"google",
     "550 5.1.1 The email account that you tried to reach does not exist. Please try / 5.1.1 "
     "double-checking the recipient's email address for typos or / 5.1.1 unnecessary spaces. "
     "For more information, go to / 5.1.1  https://support.google.com/mail/?p=NoSuchUser "
     "a1si123 - gsmtp",
     "invalid-recipient"},
    // [google] 550 5.2.1
    {"google", "550 5.2.1 The email account that you tried to reach is disabled. a1si1 - gsmtp",
     "invalid-recipient"},
    // [google] 452 4.2.2
    {"google",
     "452 4.2.2 The email account that you tried to reach is over quota. Please direct / 4.2.2 "
     "the recipient to https://support.google.com/mail/?p=OverQuotaTemp a1si1 - gsmtp",
     "mailbox-full"},
    // [google] 552 5.2.2
    {"google", "552 5.2.2 The email account that you tried to reach is over quota. - gsmtp",
     "mailbox-full"},
    // [google] 552 5.2.3
    {"google",
     "552 5.2.3 Your message exceeded Google's message size limits. For more information, visit "
     "/ 5.2.3  https://support.google.com/mail/?p=MaxSizeError - gsmtp",
     "message-too-large"},
    // [google] 421 4.7.28: rate limited for unsolicited mail from the sending IP
    {"google",
     "421 4.7.28 [192.0.2.1      15] Our system has detected an unusual rate of / 4.7.28 "
     "unsolicited mail originating from your IP address. To protect our / 4.7.28 users from "
     "spam, mail sent from your IP address has been temporarily / 4.7.28 rate limited. - gsmtp",
     "reputation-block"},
    // [google] 421 4.7.0 unusual rate, temporarily blocked
    {"google",
     "421 4.7.0 Our system has detected an unusual rate of unsolicited mail originating from "
     "your IP address. To protect our users from spam, mail sent from your IP address has been "
     "temporarily blocked.",
     "reputation-block"},
    // [google] 550 5.7.1 unusual rate, blocked (the postal#1282 warm-up case)
    {"google",
     "550 5.7.1 [192.0.2.1] Our system has detected an unusual rate of / 5.7.1 unsolicited mail "
     "originating from your IP address. To protect our / 5.7.1 users from spam, mail sent from "
     "your IP address has been blocked.",
     "reputation-block"},
    // [google] 550 5.7.1 very low reputation of the sending IP
    {"google",
     "550 5.7.1 [192.0.2.1] Our system has detected that this message is / 5.7.1 likely "
     "suspicious due to the very low reputation of the sending IP / 5.7.1 address. To best "
     "protect our users from spam, the message has been / 5.7.1 blocked. - gsmtp",
     "reputation-block"},
    // [google] 421 4.7.0 low reputation of the sending domain (temporary)
    {"google",
     "421 4.7.0 [192.0.2.1] Our system has detected that this message is / 4.7.0 suspicious due "
     "to the very low reputation of the sending / 4.7.0 domain. To best protect our users from "
     "spam, the message has / 4.7.0 been blocked. - gsmtp",
     "reputation-block"},
    // [google] 550 5.7.1 likely unsolicited mail
    {"google",
     "550 5.7.1 Our system has detected that this message is likely unsolicited mail. To reduce "
     "the amount of spam sent to Gmail, this message has been blocked.",
     "spam-content"},
    // [google] 552 5.7.0 content presents a potential security issue
    {"google",
     "552 5.7.0 This message was blocked because its content presents a potential / 5.7.0 "
     "security issue. - gsmtp",
     "spam-content"},
    // [google] 550 5.7.26 unauthenticated, DMARC policy
    {"google",
     "550 5.7.26 Unauthenticated email from example.com is not accepted due to domain's / 5.7.26 "
     "DMARC policy. Please contact the administrator of example.com domain. - gsmtp",
     "authentication"},
    // [google] 550 5.7.26 fails to pass authentication checks (SPF or DKIM)
    {"google",
     "550 5.7.26 This message does not have authentication information or fails to / 5.7.26 "
     "pass authentication checks (SPF or DKIM). To best protect our users / 5.7.26 from spam, "
     "the message has been blocked. - gsmtp",
     "authentication"},
    // [google] 421 4.7.26 unauthenticated sender (temporary)
    {"google", "421 4.7.26 This mail has been rate limited because it is unauthenticated. - gsmtp",
     "authentication"},
    // [google] 550 5.7.25 no PTR record
    {"google",
     "550 5.7.25 [192.0.2.1] The IP address sending this message does not have a / 5.7.25 PTR "
     "record setup, or the corresponding forward DNS entry does not / 5.7.25 point to the "
     "sending IP. - gsmtp",
     "policy"},
    // [google] 450 4.2.1 receiving mail too quickly
    {"google",
     "450 4.2.1 The user you are trying to contact is receiving mail too quickly. Please resend "
     "your message at a later time.",
     "rate-limited"},
    // [google] 450 4.2.1 receiving mail at a rate
    {"google",
     "450 4.2.1 The user you are trying to contact is receiving mail at a rate that / 4.2.1 "
     "prevents additional messages from being delivered. - gsmtp",
     "rate-limited"},
    // [google] 452 4.5.3 too many recipients
    {"google", "452 4.5.3 Your message has too many recipients. - gsmtp", "rate-limited"},
    // [google] 550 5.4.5 daily relay limit
    {"google", "550 5.4.5 Daily SMTP relay limit exceeded for user. - gsmtp", "rate-limited"},
    // [google] 530 5.7.0 STARTTLS first
    {"google", "530 5.7.0 Must issue a STARTTLS command first. - gsmtp", "tls"},
    // [google] 421 4.7.0 TLS required for the domain
    {"google", "421 4.7.0 TLS required for RCPT domain, closing connection. - gsmtp", "tls"},
    // [google] 553 5.1.2 recipient domain not found
    {"google",
     "553 5.1.2 We weren't able to find the recipient domain. Please check for any / 5.1.2 "
     "spelling errors. - gsmtp",
     "bad-domain"},
    // [google] 421 4.3.0 temporary system problem
    {"google", "421 4.3.0 Temporary System Problem. Try again later (10). - gsmtp", "transient"},
    // [google] 550 5.7.1 policy that prohibited the mail
    {"google",
     "550 5.7.1 The user or domain that you are sending to (or from) has a policy that / 5.7.1 "
     "prohibited the mail that you sent. - gsmtp",
     "policy"},

    // --- Microsoft ---
    // [ms-ndr] 550 5.1.10 recipient not found
    {"microsoft",
     "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
     "invalid-recipient"},
    // [exchange] 550 5.1.1 RESOLVER.ADR.RecipNotFound
    {"microsoft", "550 5.1.1 RESOLVER.ADR.RecipNotFound; not found", "invalid-recipient"},
    // [ms-ndr] 550 5.4.1 directory-based edge blocking of unknown recipients
    {"microsoft",
     "550 5.4.1 Recipient address rejected: Access denied. AS(201806281) "
     "[DM6NAM11FT0.eop-nam11.prod.protection.outlook.com]",
     "invalid-recipient"},
    // [ms-olc] outlook.com unknown recipient
    {"microsoft", "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302)",
     "invalid-recipient"},
    // [ms-olc] S3140: network on the block list
    {"microsoft",
     "550 5.7.1 Unfortunately, messages from [192.0.2.1] weren't sent. Please contact your "
     "Internet service provider since part of their network is on our block list (S3140). You "
     "can also refer your provider to http://mail.live.com/mail/troubleshooting.aspx#errors.",
     "reputation-block"},
    // [ms-olc] S3150, answered as a temporary failure
    {"microsoft",
     "451 4.7.1 Unfortunately, messages from [192.0.2.1] weren't sent. Please contact your "
     "Internet service provider since part of their network is on our block list (S3150).",
     "reputation-block"},
    // [ms-ndr] blocked using Spamhaus
    {"microsoft",
     "550 5.7.1 Service unavailable, Client host [192.0.2.1] blocked using Spamhaus. To request "
     "removal from this list see https://www.spamhaus.org/query/ip/192.0.2.1 AS(1450)",
     "reputation-block"},
    // [ms-ndr] 5.7.606-649 banned sending IP
    {"microsoft",
     "550 5.7.606 Access denied, banned sending IP [192.0.2.1]. To request removal from this "
     "list please visit https://sender.office.com/ and follow the directions.",
     "reputation-block"},
    // [ms-ndr] 5.7.708 traffic not accepted
    {"microsoft",
     "550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP.",
     "reputation-block"},
    // [ms-olc] 4.7.650 rate limited due to IP reputation
    {"microsoft",
     "451 4.7.650 The mail server [192.0.2.1] has been temporarily rate limited due to IP "
     "reputation. For e-mail delivery information, see https://postmaster.live.com (S775)",
     "reputation-block"},
    // [ms-ndr] 4.7.500-699 server busy
    {"microsoft", "451 4.7.500 Server busy. Please try again later from [192.0.2.1]. (S77714)",
     "rate-limited"},
    // [ms-ndr] 5.7.509 DMARC reject
    {"microsoft",
     "550 5.7.509 Access denied, sending domain example.com does not pass DMARC verification "
     "and has a DMARC policy of reject.",
     "authentication"},
    // [ms-ndr] 5.7.23 SPF violation
    {"microsoft",
     "550 5.7.23 The message was rejected because of Sender Policy Framework violation",
     "authentication"},
    // [ms-ndr] 5.2.2 quota
    {"microsoft",
     "554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException."
     "MapiExceptionShutoffQuotaExceeded",
     "mailbox-full"},
    // [ms-ndr] 5.3.4 size
    {"microsoft", "550 5.3.4 ROUTING.SizeLimit; message size exceeds fixed maximum size for route",
     "message-too-large"},
    // [ms-ndr] 5.4.310 DNS domain does not exist
    {"microsoft",
     "550 5.4.310 DNS domain example.invalid does not exist [Message=InfoDomainNonexistent]",
     "bad-domain"},
    // [ms-ndr] 5.7.520 external forwarding
    {"microsoft",
     "550 5.7.520 Access denied, Your organization does not allow external forwarding.", "policy"},
    // [ms-ndr] 4.3.2 concurrent connections
    {"microsoft",
     "421 4.3.2 The maximum number of concurrent server connections has exceeded a limit, "
     "closing transmission channel",
     "rate-limited"},

    // --- Yahoo (and AOL, on Yahoo's servers) ---
    // [yahoo] TSS04: temporarily deferred, volume or complaints
    {"yahoo",
     "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume "
     "or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
     "reputation-block"},
    // [yahoo] TSS05: too many messages, deferred
    {"yahoo",
     "421 4.7.0 [TSS05] Messages from 192.0.2.1 temporarily deferred due to user complaints - "
     "4.16.56.1; see https://postmaster.yahooinc.com/error-codes",
     "reputation-block"},
    // [yahoo] TSS09: permanently deferred
    {"yahoo",
     "553 5.7.2 [TSS09] All messages from 192.0.2.1 will be permanently deferred; Retrying will "
     "NOT succeed. See https://postmaster.yahooinc.com/error-codes",
     "reputation-block"},
    // [yahoo] BL21: Spamhaus
    {"yahoo",
     "553 5.7.1 [BL21] Connections will not be accepted from 192.0.2.1, because the ip is in "
     "Spamhaus's list; see https://postmaster.yahooinc.com/error-codes",
     "reputation-block"},
    // [yahoo] unknown user
    {"yahoo",
     "554 delivery error: dd This user doesn't have a yahoo.com account (someone@yahoo.com) [0] "
     "- mta1234.mail.ne1.yahoo.com",
     "invalid-recipient"},
    // [yahoo] mailbox not found
    {"yahoo", "552 1 Requested mail action aborted, mailbox not found", "invalid-recipient"},
    // [yahoo] 5.7.9 unauthenticated sender
    {"yahoo",
     "550 5.7.9 This mail has been blocked because the sender is unauthenticated. Yahoo requires "
     "all senders to authenticate with either SPF or DKIM.",
     "authentication"},
    // [yahoo] 5.7.9 policy reasons
    {"yahoo",
     "554 5.7.9 Message not accepted for policy reasons. See "
     "https://postmaster.yahooinc.com/error-codes",
     "policy"},
    // [yahoo] temporary deferral without a named cause
    {"yahoo", "451 Message temporarily deferred - [160]", "transient"},

    // --- Apple iCloud ---
    // [apple] unknown user
    {"apple", "550 5.1.1 <someone@icloud.com>: user does not exist", "invalid-recipient"},
    // [apple] over quota
    {"apple", "552 5.2.2 <someone@icloud.com>: user is over quota", "mailbox-full"},
    // [apple] HM08: sender reputation, temporary
    {"apple",
     "421 4.7.0 [HM08] Message rejected due to local policy. Please visit "
     "https://support.apple.com/en-us/HT204137",
     "reputation-block"},
    // [apple] CS01: content policy
    {"apple",
     "554 5.7.1 [CS01] Message rejected due to local policy. Please visit "
     "https://support.apple.com/en-us/HT204137",
     "policy"},
    // [apple] proofpoint DNSBL block
    {"apple",
     "550 5.7.0 Blocked - see https://support.proofpoint.com/dnsbl-lookup.cgi?ip=192.0.2.1",
     "reputation-block"},

    // --- GMX / WEB.DE ---
    // [gmx] unknown mailbox
    {"gmx", "550 Requested action not taken: mailbox unavailable", "invalid-recipient"},
    // [gmx] reverse DNS missing, worded after "mailbox unavailable"
    {"gmx",
     "550 Requested action not taken: mailbox unavailable / invalid DNS PTR resource record, "
     "IP=192.0.2.1",
     "policy"},
    // [gmx] IP on a blocklist
    {"gmx", "554 IP address is black listed (mxgmx017)", "reputation-block"},
    // [gmx] policy restrictions
    {"gmx", "554 Transaction failed / Reject due to policy restrictions.", "policy"},
    // [gmx] mailbox full (WEB.DE)
    {"gmx", "552 Requested mail action aborted: exceeded storage allocation", "mailbox-full"},

    // --- Mail.ru ---
    // [mailru] unknown user
    {"mailru",
     "550 Message was not accepted -- invalid mailbox.  Local mailbox someone@mail.ru is "
     "unavailable: user not found",
     "invalid-recipient"},
    // [mailru] spam
    {"mailru",
     "550 spam message rejected. Please visit http://help.mail.ru/notspam-support/id?c=abc or "
     "report details to abuse@corp.mail.ru.",
     "spam-content"},
    // [mailru] mailbox full
    {"mailru", "552 5.2.2 Mailbox size limit exceeded", "mailbox-full"},

    // --- Comcast ---
    // [comcast] BL000000: Spamhaus
    {"comcast",
     "554 5.7.1 resimta-ch2-04v.sys.comcast.net resimta-ch2-04v.sys.comcast.net 192.0.2.1 found "
     "on one or more DNSBLs, see http://postmaster.comcast.net/smtp-error-codes.php#BL000000",
     "reputation-block"},
    // [comcast] RL000001: rate limit
    {"comcast",
     "421 4.7.0 Throttled - try again later. Please see "
     "http://postmaster.comcast.net/smtp-error-codes.php#RL000001",
     "rate-limited"},
    // [comcast] unknown user
    {"comcast", "550 5.1.1 <someone@comcast.net> recipient rejected", "invalid-recipient"},

    // --- Postfix ---
    // [postfix] local_recipient_maps
    {"",
     "550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown in local "
     "recipient table",
     "invalid-recipient"},
    // [postfix] virtual_mailbox_maps
    {"",
     "550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown in virtual "
     "mailbox table",
     "invalid-recipient"},
    // [postfix] address verification, temporary: never a dead address
    {"",
     "450 4.1.1 <bob@example.net>: Recipient address rejected: unverified address: host "
     "mx.example.net said: 550 5.1.1 no such user",
     "transient"},
    // [postfix] greylisting through a policy server
    {"",
     "450 4.2.0 <bob@example.net>: Recipient address rejected: Greylisted, see "
     "http://postgrey.schweikert.ch/help/example.net.html",
     "transient"},
    // [postfix] relay access denied
    {"", "554 5.7.1 <bob@example.net>: Relay access denied", "policy"},
    // [postfix] reject_rbl_client
    {"", "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
     "reputation-block"},
    // [postfix] message_size_limit
    {"", "552 5.3.4 Message size exceeds fixed limit", "message-too-large"},
    // [postfix] virtual mailbox over quota (a patched local(8)); Dovecot LMTP answers alike
    {"", "552 5.2.2 <bob@example.net>: Mailbox is full", "mailbox-full"},
    // [postfix] reject_unknown_sender_domain
    {"", "550 5.1.8 <alice@nowhere.invalid>: Sender address rejected: Domain not found", "policy"},
    // [postfix] smtpd's own shortage of queue space
    {"", "452 4.3.1 Insufficient system storage", "transient"},

    // --- Exim ---
    // [exim] unknown local part
    {"", "550 Unrouteable address", "invalid-recipient"},
    // [exim] relay not permitted
    {"", "550 relay not permitted", "policy"},
    // [exim] administrative prohibition
    {"", "550 Administrative prohibition", "policy"},
    // [exim] DNSBL in an ACL
    {"", "550 rejected because 192.0.2.1 is in a black list at zen.spamhaus.org",
     "reputation-block"},
    // [exim] message_size_limit
    {"", "552 Message size exceeds maximum permitted", "message-too-large"},
    // [exim] temporary local problem
    {"", "451 Temporary local problem - please try later", "transient"},
    // [exim] content scanning with SpamAssassin in the DATA ACL
    {"", "550 Rejected by SpamAssassin: message looks like spam", "spam-content"},
    // [exim] malware ACL
    {"", "550 This message contains a virus (Eicar-Test-Signature)", "spam-content"},

    // --- Exchange on-premises ---
    // [exchange] hop count
    {"", "554 5.4.14 Hop count exceeded - possible mail loop", "unclassified"},
    // [exchange] quota
    {"", "552 5.2.2 This message didn't get delivered because the recipient's mailbox is full",
     "mailbox-full"},
    // [exchange] anonymous relay
    {"", "550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain", "policy"},

    // --- Sisimai phrase lists ---
    // [sisimai] Reason/UserUnknown.pm "no such user here"
    {"", "550 5.1.1 <bob@example.net>... No such user here", "invalid-recipient"},
    // [sisimai] Reason/HostUnknown.pm "host or domain name not found"
    {"",
     "550 5.1.2 Host or domain name not found. Name service error for name=example.invalid "
     "type=A: Host not found",
     "bad-domain"},
    // [sisimai] Reason/TooManyConn.pm "too many connections"
    {"", "421 4.7.0 Too many connections from your IP, try again later", "rate-limited"},
    // [sisimai] Reason/SecurityError.pm "TLS is required"
    {"", "554 5.7.1 Encryption required for requested authentication mechanism", "tls"},

    // --- Hato's own failures ---
    // relay/routing.cc: NXDOMAIN for the recipient domain
    {"", "550 5.1.2 Host or domain name not found: example.invalid (NXDOMAIN)", "bad-domain"},
    // relay/routing.cc: null MX (RFC 7505)
    {"", "556 5.1.10 Domain example.net does not accept mail (null MX)", "bad-domain"},
    // relay/route_failure.cc: no host took a connection
    {"", "451 4.4.1 connection refused by every MX host", "transient"},
    // relay/attempt.cc: MTA-STS certificate check failed
    {"", "451 4.7.5 MTA-STS policy 20240101 of example.net: certificate does not match", "tls"},
    // relay/delivery_results.cc: expiry
    {"", "451 4.4.7 delivery time expired", "expired"},
    // relay/local_delivery.cc: no such local mailbox
    {"", "550 5.1.1 <nobody@example.org>: no such mailbox here", "invalid-recipient"},
};

BOOST_AUTO_TEST_CASE(corpus_of_real_replies) {
  BOOST_TEST(kCorpus.size() >= 60u);
  BounceRules rules;
  for (const auto& c : kCorpus) {
    BOOST_TEST_CONTEXT(c.reply) {
      BOOST_TEST(classify(rules, c) == c.category);
    }
  }
}

BOOST_AUTO_TEST_CASE(temporary_reputation_blocks_are_never_invalid_recipients) {
  BounceRules rules;
  for (const auto& c : kCorpus) {
    if (c.reply[0] != '4') continue;
    BOOST_TEST_CONTEXT(c.reply) {
      BOOST_TEST(classify(rules, c) != "invalid-recipient");
    }
  }
  // Even a 4xx with recipient words and the 5.1.1-like code stays transient.
  BOOST_TEST(rules.classify({"4.1.1", "450 4.1.1 user unknown", "", false}) == "transient");
}

BOOST_AUTO_TEST_CASE(configured_rules_come_first) {
  conf::BounceRule mine;
  mine.match = "5\\.7\\.1.*blocked";
  mine.provider = "microsoft";
  mine.category = "spam-content";
  conf::BounceRule by_code;
  by_code.dsn = "5.1.1";
  by_code.provider = "gmx";
  by_code.category = "policy";
  BounceRules rules({mine, by_code});
  std::string reply =
      "550 5.7.1 Service unavailable, Client host [192.0.2.1] blocked using Spamhaus";
  BOOST_TEST(rules.classify({"5.7.1", reply, "microsoft", true}) == "spam-content");
  // Another provider: the built-in table decides.
  BOOST_TEST(rules.classify({"5.7.1", reply, "google", true}) == "reputation-block");
  BOOST_TEST(rules.classify({"5.1.1", "550 5.1.1 unknown", "gmx", true}) == "policy");
  BOOST_TEST(rules.classify({"5.1.1", "550 5.1.1 unknown", "", true}) == "invalid-recipient");
}

BOOST_AUTO_TEST_CASE(a_configured_rule_cannot_make_a_temporary_failure_a_dead_address) {
  conf::BounceRule r;
  r.match = "deferred";
  r.category = "invalid-recipient";
  BounceRules rules({r});
  BOOST_TEST(rules.classify({"4.7.0", "421 4.7.0 deferred", "", false}) == "transient");
  BOOST_TEST(rules.classify({"5.0.0", "550 deferred", "", true}) == "invalid-recipient");
}

BOOST_AUTO_TEST_CASE(codes_match_by_whole_fields) {
  BounceRules rules;
  // 4.7.5 (TLS) is no prefix of 4.7.500 (Microsoft's throttling).
  BOOST_TEST(rules.classify({"4.7.500", "451 4.7.500 try later", "", false}) == "rate-limited");
  BOOST_TEST(rules.classify({"4.7.5", "451 4.7.5 try later", "", false}) == "tls");
}

BOOST_AUTO_TEST_CASE(nothing_fits) {
  BounceRules rules;
  BOOST_TEST(rules.classify({"5.0.0", "554 Transaction failed", "", true}) == "unclassified");
  BOOST_TEST(rules.classify({"4.0.0", "451 try again", "", false}) == "transient");
}

BOOST_AUTO_TEST_CASE(providers_from_mx_names) {
  BOOST_TEST(bounce_provider("gmail-smtp-in.l.google.com[192.0.2.1]:25") == "google");
  BOOST_TEST(bounce_provider("example-com.mail.protection.outlook.com.") == "microsoft");
  BOOST_TEST(bounce_provider("mta7.am0.yahoodns.net") == "yahoo");
  BOOST_TEST(bounce_provider("mx01.mail.icloud.com") == "apple");
  BOOST_TEST(bounce_provider("mx00.emig.gmx.net") == "gmx");
  BOOST_TEST(bounce_provider("mx-ha03.web.de") == "gmx");
  BOOST_TEST(bounce_provider("mxs.mail.ru") == "mailru");
  BOOST_TEST(bounce_provider("mx1a1.comcast.net") == "comcast");
  BOOST_TEST(bounce_provider("evilgoogle.com") == "");
  BOOST_TEST(bounce_provider("") == "");
}

}  // namespace
}  // namespace hato::policy
