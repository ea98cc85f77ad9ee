// load_mix.cc - the message bodies of smtpload_tls (see load_mix.h).
#include "bench/load_mix.h"

#include <openssl/evp.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace bench {

namespace {

constexpr size_t kHeaderGuess = 260;  // Date, From, To, Subject, Message-ID, MIME-Version

const char* const kWords[] = {"the",      "shipment", "invoice", "account",  "order",   "your",
                              "delivery", "please",   "review",  "attached", "report",  "monthly",
                              "update",   "thanks",   "meeting", "schedule", "payment", "receipt",
                              "customer", "support",  "team",    "with",     "for",     "and"};

// text - about n bytes of words in lines of at most 76 characters, each ending CRLF.
std::string text(size_t n, Rng& rng, const char* open = "", const char* close = "") {
  std::string out;
  out.reserve(n + 100);
  std::string line = open;
  while (out.size() + line.size() < n) {
    const char* w = kWords[rng.next() % (sizeof kWords / sizeof kWords[0])];
    if (line.size() + std::strlen(w) + 1 > 76 - std::strlen(close)) {
      out += line + close + "\r\n";
      line = open;
    }
    if (!line.empty() && line != open) line += ' ';
    line += w;
  }
  out += line + close + "\r\n";
  return out;
}

// attachment - n bytes of base64 (random bytes, as a compressed file looks) in 76-char lines.
std::string attachment(size_t n, Rng& rng) {
  std::string out;
  out.reserve(n + 100);
  unsigned char raw[57];
  unsigned char enc[80];
  while (out.size() < n) {
    for (auto& b : raw) b = static_cast<unsigned char>(rng.next());
    int len = EVP_EncodeBlock(enc, raw, sizeof raw);
    out.append(reinterpret_cast<char*>(enc), static_cast<size_t>(len));
    out += "\r\n";
  }
  return out;
}

std::string plain_body(size_t n, Rng& rng) {
  return "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
         text(n, rng);
}

std::string alternative_body(size_t n, Rng& rng) {
  const std::string b = "=_alt_boundary_7f3a";
  std::string out = "Content-Type: multipart/alternative; boundary=\"" + b + "\"\r\n\r\n";
  out += "--" + b + "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text(n / 3, rng);
  out += "--" + b + "\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body>\r\n" +
         text(n - n / 3 - 400, rng, "<p>", "</p>") + "</body></html>\r\n";
  out += "--" + b + "--\r\n";
  return out;
}

std::string mixed_body(size_t n, Rng& rng, size_t size) {
  const std::string b = "=_mixed_boundary_42c1";
  std::string out = "Content-Type: multipart/mixed; boundary=\"" + b + "\"\r\n\r\n";
  out += "--" + b + "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text(2048, rng);
  out += "--" + b + "\r\nContent-Type: application/pdf; name=\"report-" + std::to_string(size) +
         ".pdf\"\r\nContent-Disposition: attachment; filename=\"report-" + std::to_string(size) +
         ".pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n";
  size_t used = out.size() + b.size() + 8;
  out += attachment(n > used ? n - used : 76, rng);
  out += "--" + b + "--\r\n";
  return out;
}

}  // namespace

std::vector<SizeClass> parse_mix(const std::string& text) {
  std::vector<SizeClass> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    char* end = nullptr;
    SizeClass c;
    c.size = std::strtoul(item.c_str(), &end, 10);
    if (*end == 'k' || *end == 'K') {
      c.size *= 1024;
      ++end;
    }
    if (*end != ':' || c.size == 0) return {};
    c.weight = std::strtod(end + 1, &end);
    if (*end != 0 || c.weight <= 0) return {};
    out.push_back(std::move(c));
  }
  return out;
}

void build_bodies(std::vector<SizeClass>& classes, uint64_t seed) {
  Rng rng{seed | 1};
  for (auto& c : classes) {
    size_t n = c.size > kHeaderGuess + 200 ? c.size - kHeaderGuess : 200;
    if (c.size < 16 * 1024) {
      c.body = plain_body(n - 80, rng);
    } else if (c.size < 100 * 1024) {
      c.body = alternative_body(n - 160, rng);
    } else {
      c.body = mixed_body(n, rng, c.size);
    }
    c.body += ".\r\n";
  }
}

size_t pick(const std::vector<SizeClass>& classes, double uniform) {
  double total = 0;
  for (const auto& c : classes) total += c.weight;
  double at = uniform * total;
  for (size_t i = 0; i < classes.size(); ++i) {
    if (at < classes[i].weight) return i;
    at -= classes[i].weight;
  }
  return classes.size() - 1;
}

}  // namespace bench
