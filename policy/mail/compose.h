// compose.h - a correct MIME message (RFC 5322, 2045-2047, 2183, 2231) from the parts an
// application hands the HTTP API: addresses, subject, a text and/or an HTML body, extra
// header fields and attachments.
//
// What comes out: CRLF lines, none longer than 78 octets in the header (folded) or 76 in an
// encoded body, all ASCII: non-ASCII header text as RFC 2047 encoded words (UTF-8, B), a
// non-ASCII file name as an RFC 2231 parameter, bodies as 7bit when they are short-lined
// ASCII and quoted-printable otherwise, attachments in base64. Text and HTML together make a
// multipart/alternative; attachments wrap the body in a multipart/mixed. Date and Message-ID
// are left to the transaction, which adds them to every message it takes.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hato::mail {

struct Address {
  std::string name;   // display name, UTF-8; may be empty
  std::string email;  // local@domain
};

struct Attachment {
  std::string name;     // file name, UTF-8
  std::string type;     // media type, "application/pdf"
  std::string content;  // the bytes themselves (decoded)
};

struct Composition {
  Address from;
  std::vector<Address> to;
  std::vector<Address> cc;
  std::vector<Address> reply_to;
  std::string subject;  // UTF-8
  std::string text;     // text/plain body, UTF-8; LF or CRLF line ends
  std::string html;     // text/html body, UTF-8
  std::vector<std::pair<std::string, std::string>> headers;  // extra fields, value UTF-8
  std::vector<Attachment> attachments;
};

// The message. `boundary_seed` makes the multipart boundaries (random bytes in hex, say);
// the caller checks the composition first with compose_error().
std::string compose(const Composition& c, std::string_view boundary_seed);

// What is wrong with `c` as a message, naming the field ("subject", "headers.X-Foo",
// "attachments[1].type"), or "" when it can be composed.
std::string compose_error(const Composition& c);

// Whether `email` is a plain local@domain without spaces, brackets or quotes.
bool is_address(std::string_view email);

// An unstructured header field's value as it goes on the wire after "Name: ": folded at
// spaces, or as encoded words when it holds non-ASCII or a word too long to fold.
std::string encode_unstructured(std::string_view name, std::string_view value);

// Quoted-printable (RFC 2045 6.7) of text with CRLF line ends, soft breaks at 76.
std::string quoted_printable(std::string_view text);

}  // namespace hato::mail
