// smtp_command_fuzz.cc - the SMTP command line parsers on hostile lines.
//
// Input: one command line without its CRLF (what ServerSession hands over).
// Beyond "no crash": an address the parsers accept carries no control
// character (it ends up in Received headers, queue records and outbound
// RCPT commands), and no non-ASCII byte unless SMTPUTF8 allows it.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "relay/smtp_command.h"

using namespace hato;
using namespace hato::relay;

namespace {

bool within(std::string_view part, std::string_view whole) {
  return part.empty() ||
         (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

std::string xtext_encode(std::string_view in) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : in) {
    if (c < 33 || c > 126 || c == '+' || c == '=') {
      out += '+';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

void check_mailbox(std::string_view address, bool utf8) {
  if (!valid_mailbox(address, utf8)) return;
  if (fuzz::known_bug("literal-controls") && address.find('[') != std::string_view::npos) return;
  FUZZ_CHECK(fuzz::no_controls(address), "valid_mailbox accepted a control character");
  FUZZ_CHECK(utf8 || fuzz::ascii(address), "valid_mailbox accepted non-ASCII without SMTPUTF8");
  FUZZ_CHECK(address.size() <= 254, "valid_mailbox accepted an over-long address");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view line(reinterpret_cast<const char*>(data), size);

  Command cmd = parse_command(line);
  FUZZ_CHECK(within(cmd.verb_text, line), "verb outside the line");
  FUZZ_CHECK(within(cmd.argument, line), "argument outside the line");
  FUZZ_CHECK(cmd.argument.empty() || (cmd.argument.back() != ' ' && cmd.argument.back() != '\t'),
             "argument keeps trailing blanks");

  // Every line through both path parsers, whatever its verb: the session
  // calls them with the argument only.
  for (std::string_view arg : {cmd.argument, line}) {
    MailParams mail;
    if (!parse_mail(arg, &mail)) {
      FUZZ_CHECK(mail.address.empty() || valid_mailbox(mail.address, mail.smtputf8),
                 "parse_mail accepted an invalid sender");
      FUZZ_CHECK(fuzz::known_bug("literal-controls") || fuzz::no_controls(mail.address),
                 "sender with a control character");
      FUZZ_CHECK(mail.ret.empty() || mail.ret == "FULL" || mail.ret == "HDRS", "bad RET");
    }
    RcptParams rcpt;
    if (!parse_rcpt(arg, &rcpt)) {
      FUZZ_CHECK(!rcpt.address.empty(), "parse_rcpt accepted an empty recipient");
      FUZZ_CHECK(fuzz::known_bug("literal-controls") || fuzz::no_controls(rcpt.address),
                 "recipient with a control character");
      FUZZ_CHECK(rcpt.orcpt.empty() || rcpt.orcpt.find(';') != std::string::npos,
                 "ORCPT without its address type");
      FUZZ_CHECK((rcpt.notify & 1) == 0 || rcpt.notify == 1, "NOTIFY=NEVER combined");
    }
  }

  check_mailbox(line, false);
  check_mailbox(line, true);

  if (auto decoded = xtext_decode(line)) {
    FUZZ_CHECK(decoded->size() <= line.size(), "xtext decoding grew");
    auto again = xtext_decode(xtext_encode(*decoded));
    FUZZ_CHECK(again && *again == *decoded, "xtext round trip");
  }
  return 0;
}
