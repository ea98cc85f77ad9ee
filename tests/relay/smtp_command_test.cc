// smtp_command_test.cc - command lines, MAIL/RCPT paths and every parameter,
// mailbox syntax and xtext: the exact reply (code and enhanced code) for each
// refusal.
#define BOOST_TEST_MODULE relay
#include <boost/test/unit_test.hpp>

#include <optional>
#include <string>

#include "queue/envelope.h"
#include "relay/smtp_command.h"

namespace hato::relay {
namespace {

// The reply of a refused MAIL, as "code text".
std::string mail_error(std::string_view argument) {
  MailParams params;
  auto err = parse_mail(argument, &params);
  if (!err) return "accepted";
  return std::to_string(err->code) + " " + err->text;
}

std::string rcpt_error(std::string_view argument) {
  RcptParams params;
  auto err = parse_rcpt(argument, &params);
  if (!err) return "accepted";
  return std::to_string(err->code) + " " + err->text;
}

MailParams mail_ok(std::string_view argument) {
  MailParams params;
  auto err = parse_mail(argument, &params);
  BOOST_TEST_REQUIRE(!err.has_value(), argument << " -> " << (err ? err->text : ""));
  return params;
}

RcptParams rcpt_ok(std::string_view argument) {
  RcptParams params;
  auto err = parse_rcpt(argument, &params);
  BOOST_TEST_REQUIRE(!err.has_value(), argument << " -> " << (err ? err->text : ""));
  return params;
}

// The leading "code enhanced-code" of a refusal, e.g. "501 5.1.7".
std::string codes(const std::string& error) {
  return error.substr(0, 9);
}

BOOST_AUTO_TEST_SUITE(command_line)

BOOST_AUTO_TEST_CASE(verbs_are_case_insensitive) {
  const std::pair<const char*, Verb> kVerbs[] = {
      {"HELO", Verb::kHelo}, {"ehlo", Verb::kEhlo},         {"Mail", Verb::kMail},
      {"rCpT", Verb::kRcpt}, {"data", Verb::kData},         {"RSet", Verb::kRset},
      {"noop", Verb::kNoop}, {"quit", Verb::kQuit},         {"vrfy", Verb::kVrfy},
      {"help", Verb::kHelp}, {"StartTLS", Verb::kStartTls}, {"auth", Verb::kAuth},
      {"bdat", Verb::kBdat}, {"expn", Verb::kExpn},
  };
  for (const auto& [text, verb] : kVerbs) {
    Command cmd = parse_command(text);
    BOOST_TEST((cmd.verb == verb), text);
    BOOST_TEST(cmd.verb_text == text);
    BOOST_TEST(cmd.argument.empty());
  }
}

BOOST_AUTO_TEST_CASE(argument_after_one_space_trailing_blanks_removed) {
  Command cmd = parse_command("mail FROM:<a@example.org> SIZE=10  \t ");
  BOOST_TEST((cmd.verb == Verb::kMail));
  BOOST_TEST(cmd.verb_text == "mail");
  BOOST_TEST(cmd.argument == "FROM:<a@example.org> SIZE=10");
  BOOST_TEST(parse_command("EHLO client.example").argument == "client.example");
  BOOST_TEST(parse_command("NOOP ").argument == "");
}

BOOST_AUTO_TEST_CASE(unknown_verbs) {
  for (const char* line : {"", "MAILFROM:<a@b>", "HELOO x", "XYZZY", "DAT", " DATA", "EHLO\tx"})
    BOOST_TEST((parse_command(line).verb == Verb::kUnknown), line);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(mail_path)

BOOST_AUTO_TEST_CASE(with_and_without_space_after_colon) {
  BOOST_TEST(mail_ok("FROM:<alice@example.org>").address == "alice@example.org");
  BOOST_TEST(mail_ok("FROM: <alice@example.org>").address == "alice@example.org");
  BOOST_TEST(mail_ok("from:<alice@example.org>").address == "alice@example.org");
  BOOST_TEST(mail_ok("From:  <alice@example.org>  ").address == "alice@example.org");
}

BOOST_AUTO_TEST_CASE(null_sender) {
  MailParams p = mail_ok("FROM:<>");
  BOOST_TEST(p.address.empty());
  BOOST_TEST(mail_ok("FROM:<> SIZE=100").address.empty());
}

BOOST_AUTO_TEST_CASE(source_route_is_ignored) {
  BOOST_TEST(mail_ok("FROM:<@relay.example:alice@example.org>").address == "alice@example.org");
  BOOST_TEST(mail_ok("FROM:<@a.example,@b.example:alice@example.org>").address ==
             "alice@example.org");
  BOOST_TEST(codes(mail_error("FROM:<@relay.example>")) == "501 5.1.3");
}

BOOST_AUTO_TEST_CASE(source_route_without_mailbox_is_not_the_null_sender) {
  // RFC 5321 4.1.2: Path = "<" [ A-d-l ":" ] Mailbox ">"; only "<>" is the
  // null reverse-path. "<@relay:>" has a route and no mailbox.
  BOOST_TEST(mail_error("FROM:<@relay.example:>") != "accepted");
}

BOOST_AUTO_TEST_CASE(quoted_local_parts) {
  BOOST_TEST(mail_ok("FROM:<\"john doe\"@example.org>").address == "\"john doe\"@example.org");
  // '>' and '@' inside the quotes belong to the local part.
  BOOST_TEST(mail_ok("FROM:<\"a>b@c\"@example.org> SIZE=5").address == "\"a>b@c\"@example.org");
  BOOST_TEST(mail_ok("FROM:<\"a\\\"b\"@example.org>").address == "\"a\\\"b\"@example.org");
  BOOST_TEST(mail_ok("FROM:<\"a\\>b\"@example.org>").address == "\"a\\>b\"@example.org");
}

BOOST_AUTO_TEST_CASE(missing_brackets) {
  BOOST_TEST(mail_error("FROM:alice@example.org") ==
             "501 5.1.7 Syntax: the address must be enclosed in <>");
  BOOST_TEST(mail_error("FROM:") == "501 5.1.7 Syntax: the address must be enclosed in <>");
  BOOST_TEST(mail_error("FROM:<alice@example.org") == "501 5.1.7 Syntax: missing '>'");
  BOOST_TEST(codes(mail_error("FROM:<\"alice>@example.org")) == "501 5.1.7");
  BOOST_TEST(codes(rcpt_error("TO:bob@example.org")) == "501 5.1.7");
  BOOST_TEST(codes(rcpt_error("TO:<bob@example.org")) == "501 5.1.7");
}

BOOST_AUTO_TEST_CASE(bad_keyword_or_no_space_before_parameters) {
  BOOST_TEST(codes(mail_error("TO:<a@example.org>")) == "501 5.5.4");
  BOOST_TEST(codes(mail_error("FROM <a@example.org>")) == "501 5.5.4");
  BOOST_TEST(codes(mail_error("")) == "501 5.5.4");
  BOOST_TEST(codes(mail_error("FROM:<a@example.org>SIZE=10")) == "501 5.5.4");
  BOOST_TEST(codes(rcpt_error("FROM:<a@example.org>")) == "501 5.5.4");
  BOOST_TEST(codes(rcpt_error("TO:<a@example.org>NOTIFY=NEVER")) == "501 5.5.4");
}

BOOST_AUTO_TEST_CASE(bad_sender_syntax_553) {
  BOOST_TEST(mail_error("FROM:<alice>") == "553 5.1.7 Bad sender address syntax");
  BOOST_TEST(codes(mail_error("FROM:<alice@>")) == "553 5.1.7");
  BOOST_TEST(codes(mail_error("FROM:<.alice@example.org>")) == "553 5.1.7");
  BOOST_TEST(codes(mail_error("FROM:<al ice@example.org>")) == "553 5.1.7");
  // Non-ASCII needs SMTPUTF8 on the same command.
  BOOST_TEST(codes(mail_error("FROM:<j\xc3\xb6rg@example.org>")) == "553 5.1.7");
  BOOST_TEST(mail_ok("FROM:<j\xc3\xb6rg@example.org> SMTPUTF8").smtputf8);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(mail_parameters)

BOOST_AUTO_TEST_CASE(size) {
  BOOST_TEST(*mail_ok("FROM:<a@example.org> SIZE=0").size == 0u);
  BOOST_TEST(*mail_ok("FROM:<a@example.org> size=52428800").size == 52428800u);
  BOOST_TEST(*mail_ok("FROM:<a@example.org> SIZE=18446744073709551615").size ==
             18446744073709551615ull);
  BOOST_TEST(!mail_ok("FROM:<a@example.org>").size.has_value());
  for (const char* bad : {"SIZE=", "SIZE=12k", "SIZE=-1", "SIZE=+5", "SIZE=18446744073709551616"})
    BOOST_TEST(
        mail_error(std::string("FROM:<a@example.org> ") + bad) == "501 5.5.4 Syntax: SIZE=number",
        bad);
  // SIZE without a value is not the SIZE parameter.
  BOOST_TEST(codes(mail_error("FROM:<a@example.org> SIZE")) == "555 5.5.4");
}

BOOST_AUTO_TEST_CASE(body) {
  BOOST_TEST(mail_ok("FROM:<a@example.org> BODY=8BITMIME").eight_bit);
  BOOST_TEST(mail_ok("FROM:<a@example.org> body=8bitmime").eight_bit);
  BOOST_TEST(!mail_ok("FROM:<a@example.org> BODY=7BIT").eight_bit);
  BOOST_TEST(mail_error("FROM:<a@example.org> BODY=BINARYMIME") ==
             "501 5.5.4 BODY must be 7BIT or 8BITMIME");
  BOOST_TEST(codes(mail_error("FROM:<a@example.org> BODY=")) == "501 5.5.4");
}

BOOST_AUTO_TEST_CASE(smtputf8) {
  BOOST_TEST(mail_ok("FROM:<a@example.org> SMTPUTF8").smtputf8);
  BOOST_TEST(mail_ok("FROM:<a@example.org> smtputf8").smtputf8);
  BOOST_TEST(!mail_ok("FROM:<a@example.org>").smtputf8);
  // SMTPUTF8 takes no value.
  BOOST_TEST(codes(mail_error("FROM:<a@example.org> SMTPUTF8=yes")) == "555 5.5.4");
}

BOOST_AUTO_TEST_CASE(ret) {
  BOOST_TEST(mail_ok("FROM:<a@example.org> RET=FULL").ret == "FULL");
  BOOST_TEST(mail_ok("FROM:<a@example.org> ret=hdrs").ret == "HDRS");
  BOOST_TEST(mail_ok("FROM:<a@example.org>").ret == "");
  BOOST_TEST(mail_error("FROM:<a@example.org> RET=BODY") == "501 5.5.4 RET must be FULL or HDRS");
}

BOOST_AUTO_TEST_CASE(envid_xtext) {
  BOOST_TEST(mail_ok("FROM:<a@example.org> ENVID=QQ314159").envid == "QQ314159");
  BOOST_TEST(mail_ok("FROM:<a@example.org> ENVID=a+2Bb+3Dc+20d").envid == "a+b=c d");
  BOOST_TEST(mail_error("FROM:<a@example.org> ENVID=a=b") == "501 5.5.4 Bad ENVID");
  BOOST_TEST(mail_error("FROM:<a@example.org> ENVID=a+2") == "501 5.5.4 Bad ENVID");
  BOOST_TEST(mail_error("FROM:<a@example.org> ENVID=+ZZ") == "501 5.5.4 Bad ENVID");
  // RFC 3461 4.4: at most 100 characters.
  BOOST_TEST(mail_ok("FROM:<a@example.org> ENVID=" + std::string(100, 'x')).envid.size() == 100u);
  BOOST_TEST(mail_error("FROM:<a@example.org> ENVID=" + std::string(101, 'x')) ==
             "501 5.5.4 Bad ENVID");
}

BOOST_AUTO_TEST_CASE(auth_parameter_is_accepted_and_ignored) {
  MailParams p = mail_ok("FROM:<a@example.org> AUTH=<>");
  BOOST_TEST(p.address == "a@example.org");
}

BOOST_AUTO_TEST_CASE(all_together) {
  MailParams p =
      mail_ok("FROM:<a@example.org> SIZE=1234 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=id+2B1 AUTH=a");
  BOOST_TEST(p.address == "a@example.org");
  BOOST_TEST(*p.size == 1234u);
  BOOST_TEST(p.eight_bit);
  BOOST_TEST(p.smtputf8);
  BOOST_TEST(p.ret == "HDRS");
  BOOST_TEST(p.envid == "id+1");
}

BOOST_AUTO_TEST_CASE(unknown_parameters_555) {
  BOOST_TEST(mail_error("FROM:<a@example.org> FOO=bar") ==
             "555 5.5.4 Unsupported MAIL parameter FOO");
  BOOST_TEST(mail_error("FROM:<a@example.org> SIZE=1 XYZ") ==
             "555 5.5.4 Unsupported MAIL parameter XYZ");
  // A RCPT parameter on MAIL, and the other way round.
  BOOST_TEST(codes(mail_error("FROM:<a@example.org> NOTIFY=NEVER")) == "555 5.5.4");
  BOOST_TEST(rcpt_error("TO:<b@example.org> SIZE=10") ==
             "555 5.5.4 Unsupported RCPT parameter SIZE");
  BOOST_TEST(codes(rcpt_error("TO:<b@example.org> RET=FULL")) == "555 5.5.4");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(rcpt)

BOOST_AUTO_TEST_CASE(paths) {
  BOOST_TEST(rcpt_ok("TO:<bob@example.org>").address == "bob@example.org");
  BOOST_TEST(rcpt_ok("to: <bob@example.org>").address == "bob@example.org");
  BOOST_TEST(rcpt_ok("TO:<@hop.example:bob@example.org>").address == "bob@example.org");
  BOOST_TEST(rcpt_ok("TO:<\"b o b\"@example.org>").address == "\"b o b\"@example.org");
  // RCPT accepts UTF-8 here; the session checks it against SMTPUTF8.
  BOOST_TEST(rcpt_ok("TO:<b\xc3\xb6@example.org>").address == "b\xc3\xb6@example.org");
}

BOOST_AUTO_TEST_CASE(null_or_bad_recipient_501_513) {
  BOOST_TEST(rcpt_error("TO:<>") == "501 5.1.3 Bad recipient address syntax");
  BOOST_TEST(codes(rcpt_error("TO:<bob>")) == "501 5.1.3");
  BOOST_TEST(codes(rcpt_error("TO:<bob@exa mple.org>")) == "501 5.1.3");
  BOOST_TEST(codes(rcpt_error("TO:<@hop.example>")) == "501 5.1.3");
}

BOOST_AUTO_TEST_CASE(postmaster_without_domain) {
  // RFC 5321 4.1.1.3 and 4.5.1: "RCPT TO:<Postmaster>" MUST be accepted.
  RcptParams params;
  auto err = parse_rcpt("TO:<Postmaster>", &params);
  BOOST_TEST(!err.has_value(), (err ? std::to_string(err->code) + " " + err->text : ""));
}

BOOST_AUTO_TEST_CASE(notify) {
  BOOST_TEST(rcpt_ok("TO:<b@example.org>").notify == 0);
  BOOST_TEST(rcpt_ok("TO:<b@example.org> NOTIFY=NEVER").notify == queue::kNotifyNever);
  BOOST_TEST(rcpt_ok("TO:<b@example.org> NOTIFY=SUCCESS").notify == queue::kNotifySuccess);
  BOOST_TEST(rcpt_ok("TO:<b@example.org> notify=failure").notify == queue::kNotifyFailure);
  BOOST_TEST(rcpt_ok("TO:<b@example.org> NOTIFY=DELAY").notify == queue::kNotifyDelay);
  BOOST_TEST(rcpt_ok("TO:<b@example.org> NOTIFY=SUCCESS,FAILURE").notify ==
             (queue::kNotifySuccess | queue::kNotifyFailure));
  BOOST_TEST(rcpt_ok("TO:<b@example.org> NOTIFY=DELAY,Failure,SUCCESS").notify ==
             (queue::kNotifySuccess | queue::kNotifyFailure | queue::kNotifyDelay));
  BOOST_TEST(rcpt_ok("TO:<b@example.org> NOTIFY=never").notify == queue::kNotifyNever);
}

BOOST_AUTO_TEST_CASE(notify_never_cannot_be_combined) {
  for (const char* bad : {"NOTIFY=NEVER,SUCCESS", "NOTIFY=FAILURE,NEVER", "NOTIFY=DELAY,never"})
    BOOST_TEST(rcpt_error(std::string("TO:<b@example.org> ") + bad) ==
                   "501 5.5.4 NOTIFY=NEVER cannot be combined",
               bad);
}

BOOST_AUTO_TEST_CASE(notify_bad_values) {
  for (const char* bad : {"NOTIFY=ALWAYS", "NOTIFY=SUCCESS,,FAILURE", "NOTIFY=SUCCESS;FAILURE"})
    BOOST_TEST(rcpt_error(std::string("TO:<b@example.org> ") + bad) == "501 5.5.4 Bad NOTIFY value",
               bad);
}

BOOST_AUTO_TEST_CASE(notify_empty_list_is_an_error) {
  // RFC 3461 4.1: notify-esmtp-value = "NEVER" / 1#notify-list-element; an
  // empty value or an empty element is not a value.
  BOOST_TEST(codes(rcpt_error("TO:<b@example.org> NOTIFY=")) == "501 5.5.4");
  BOOST_TEST(codes(rcpt_error("TO:<b@example.org> NOTIFY=SUCCESS,")) == "501 5.5.4");
}

BOOST_AUTO_TEST_CASE(orcpt) {
  BOOST_TEST(rcpt_ok("TO:<b@example.org> ORCPT=rfc822;bob@example.org").orcpt ==
             "rfc822;bob@example.org");
  BOOST_TEST(rcpt_ok("TO:<b@example.org> ORCPT=rfc822;b+2Bx@example.org").orcpt ==
             "rfc822;b+x@example.org");
  // The ';' may itself arrive encoded.
  BOOST_TEST(rcpt_ok("TO:<b@example.org> ORCPT=rfc822+3Bb@example.org").orcpt ==
             "rfc822;b@example.org");
  BOOST_TEST(rcpt_error("TO:<b@example.org> ORCPT=bob@example.org") == "501 5.5.4 Bad ORCPT");
  BOOST_TEST(rcpt_error("TO:<b@example.org> ORCPT=rfc822;a=b") == "501 5.5.4 Bad ORCPT");
  BOOST_TEST(rcpt_error("TO:<b@example.org> ORCPT=rfc822;+4") == "501 5.5.4 Bad ORCPT");
  BOOST_TEST(rcpt_error("TO:<b@example.org> ORCPT=rfc822;" + std::string(494, 'x')) ==
             "501 5.5.4 Bad ORCPT");
  BOOST_TEST(rcpt_ok("TO:<b@example.org> ORCPT=rfc822;" + std::string(493, 'x')).orcpt.size() ==
             500u);
}

BOOST_AUTO_TEST_CASE(notify_and_orcpt_together) {
  RcptParams p = rcpt_ok("TO:<b@example.org> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;b@example.org");
  BOOST_TEST(p.address == "b@example.org");
  BOOST_TEST(p.notify == (queue::kNotifySuccess | queue::kNotifyDelay));
  BOOST_TEST(p.orcpt == "rfc822;b@example.org");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(mailbox)

BOOST_AUTO_TEST_CASE(valid) {
  for (const char* ok :
       {"a@b", "alice@example.org", "a.b.c@example.org", "a+tag@example.org",
        "!#$%&'*+-/=?^_`{|}~@example.org", "a@sub-domain.example.org", "a@xn--bcher-kva.example",
        "a@[192.0.2.1]", "a@[IPv6:2001:db8::1]", "\"quoted local\"@example.org",
        "\"a@b\"@example.org", "\"esc\\\"aped\"@example.org", "\"\"@example.org", "A@EXAMPLE.ORG",
        "1@2.3"})
    BOOST_TEST(valid_mailbox(ok, false), ok);
}

BOOST_AUTO_TEST_CASE(invalid) {
  for (const char* bad : {"",
                          "@",
                          "a@",
                          "@example.org",
                          "alice",
                          "alice@@example.org",
                          ".a@example.org",
                          "a.@example.org",
                          "a..b@example.org",
                          "a b@example.org",
                          "a@example..org",
                          "a@.example.org",
                          "a@example.org.",
                          "a@-example.org",
                          "a@example-.org",
                          "a@exa_mple.org",
                          "a@exa mple.org",
                          "a(b)@example.org",
                          "a,b@example.org",
                          "a;b@example.org",
                          "a<b@example.org",
                          "a\\b@example.org",
                          "\"unterminated@example.org",
                          "\"a\"b\"@example.org",
                          "\"a\\\"@example.org",
                          "a@[]",
                          "a@[1.2.3.4",
                          "a@[1.2 3.4]"})
    BOOST_TEST(!valid_mailbox(bad, false), bad);
}

BOOST_AUTO_TEST_CASE(controls_in_quoted_local_part) {
  BOOST_TEST(!valid_mailbox(std::string("\"a\x01") + "b\"@example.org", false));
  BOOST_TEST(!valid_mailbox("\"a\tb\"@example.org", false));
  BOOST_TEST(
      !valid_mailbox("\"a\x7f"
                     "b\"@example.org",
                     false));
}

BOOST_AUTO_TEST_CASE(length_limits) {
  std::string local64(64, 'l');
  BOOST_TEST(valid_mailbox(local64 + "@example.org", false));
  BOOST_TEST(!valid_mailbox(local64 + "l@example.org", false));
  std::string label63(63, 'd');
  BOOST_TEST(valid_mailbox("a@" + label63 + ".org", false));
  BOOST_TEST(!valid_mailbox("a@" + label63 + "d.org", false));
  // 254 octets in all (RFC 5321 4.5.3.1.3 path of 256 minus the brackets).
  std::string domain = label63 + "." + label63 + "." + label63 + ".";  // 192
  std::string at254 = std::string(254 - 1 - 192 - 3, 'x') + "@" + domain + "org";
  BOOST_TEST_REQUIRE(at254.size() == 254u);
  BOOST_TEST(valid_mailbox(at254, false));
  BOOST_TEST(!valid_mailbox("x" + at254, false));
}

BOOST_AUTO_TEST_CASE(utf8_only_when_allowed) {
  const std::string local = "j\xc3\xb6rg@example.org";
  const std::string domain =
      "info@b\xc3\xbc"
      "cher.example";
  const std::string quoted = "\"j\xc3\xb6rg\"@example.org";
  BOOST_TEST(!valid_mailbox(local, false));
  BOOST_TEST(valid_mailbox(local, true));
  BOOST_TEST(!valid_mailbox(domain, false));
  BOOST_TEST(valid_mailbox(domain, true));
  BOOST_TEST(!valid_mailbox(quoted, false));
  BOOST_TEST(valid_mailbox(quoted, true));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(xtext)

BOOST_AUTO_TEST_CASE(decodes) {
  BOOST_TEST(*xtext_decode("") == "");
  BOOST_TEST(*xtext_decode("plain") == "plain");
  BOOST_TEST(*xtext_decode("+2B") == "+");
  BOOST_TEST(*xtext_decode("+3D") == "=");
  BOOST_TEST(*xtext_decode("a+20b") == "a b");
  BOOST_TEST(*xtext_decode("+7E+21") == "~!");
  BOOST_TEST(*xtext_decode("+00") == std::string(1, '\0'));
  BOOST_TEST(*xtext_decode("+FF") == "\xff");
  BOOST_TEST(*xtext_decode("!~") == "!~");
}

BOOST_AUTO_TEST_CASE(rejects) {
  for (const char* bad :
       {"+", "+4", "a+", "a+4", "+G0", "+0G", "+ 1", "a=b", "a b", "tab\there", "\x7f", "\xc3\xa9"})
    BOOST_TEST(!xtext_decode(bad).has_value(), bad);
}

BOOST_AUTO_TEST_CASE(hexchar_is_two_hex_digits_not_a_signed_number) {
  // "+-1" is not "+" 2HEXDIGIT; from_chars on a signed int reads it as -1.
  auto decoded = xtext_decode("+-1");
  BOOST_TEST(!decoded.has_value(),
             "decoded to " << (decoded ? std::to_string(static_cast<unsigned char>((*decoded)[0]))
                                       : std::string("nothing")));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato::relay
