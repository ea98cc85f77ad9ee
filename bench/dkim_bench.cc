// dkim_bench.cc - DKIM signatures per second on one core for a 4 KiB message.
//
// For rsa-sha256 (2048 bits) and ed25519-sha256 it times, each for --seconds:
//   sign      Signer::sign() end to end (split, canonicalize, hash, build the field, sign)
//   canon     the same work without the public-key operation: body hash plus the canonical
//             header data and its digest
// and prints both rates and canon's share of sign's time. --whitespace-heavy swaps the
// ordinary message for the worst case of relaxed canonicalization. bench/dkim.sh puts
// `openssl speed` next to it.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "policy/dkim/canon.h"
#include "policy/dkim/signer.h"

namespace {

using Clock = std::chrono::steady_clock;

// A 4 KiB message as mail usually is: multipart/alternative, prose with the odd double space
// after a full stop, and quoted-printable HTML. `whitespace_heavy` instead repeats a line with
// double spaces, a tab and trailing blanks: the worst case for relaxed canonicalization.
std::string make_message(size_t size, bool whitespace_heavy) {
  std::string m =
      "From: Alice Example <alice@example.test>\r\n"
      "To: Bob <bob@example.net>, carol@example.org\r\n"
      "Subject: Quarterly figures, with a subject long enough to be\r\n"
      " folded once\r\n"
      "Date: Sat, 14 Mar 2026 10:00:00 +0000\r\n"
      "Message-ID: <20260314100000.12345@example.test>\r\n"
      "MIME-Version: 1.0\r\n"
      "Content-Type: multipart/alternative; boundary=\"b1\"\r\n"
      "\r\n";
  std::vector<std::string> lines;
  if (whitespace_heavy) {
    lines = {"The quick brown fox jumps over the lazy dog;  twice\tand again.  "};
  } else {
    m += "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n";
    lines = {
        "Hello Bob,",
        "",
        "the figures for the first quarter are in, and they look better than we",
        "feared in January.  Revenue is up four percent on the year, costs are flat,",
        "and the new warehouse opened two weeks ahead of plan.  Details below.",
        "<p style=3D\"margin:0 0 12px 0;font-family:Arial,sans-serif;font-size:14px=",
        "\">The figures for the first quarter are in, and they look better than we f=",
        "eared in January.</p><table role=3D\"presentation\" width=3D\"100%\">",
    };
  }
  for (size_t i = 0; m.size() < size; ++i) m += lines[i % lines.size()] + "\r\n";
  m.resize(size - 2);
  m += "\r\n";
  return m;
}

// Operations per second: the best of 10 slices of `seconds` / 10. Other load on the machine
// only ever slows a slice down, so the best one is the closest to the cost on an idle core.
template <typename F>
double per_second(double seconds, F&& f) {
  for (int i = 0; i < 10; ++i) f();  // warm caches and OpenSSL's lazy initialization
  double best = 0;
  for (int slice = 0; slice < 10; ++slice) {
    auto start = Clock::now();
    auto end = start + std::chrono::duration<double>(seconds / 10);
    long n = 0;
    auto now = start;
    do {
      for (int i = 0; i < 8; ++i) f();
      n += 8;
      now = Clock::now();
    } while (now < end);
    best = std::max(best, n / std::chrono::duration<double>(now - start).count());
  }
  return best;
}

// What sign() does besides the signature itself.
void canon_and_hash(const std::string& message, const std::vector<std::string>& names) {
  hato::dkim::ParsedMessage parsed = hato::dkim::parse_message(message);
  std::string bh = hato::dkim::body_hash(hato::dkim::Canon::kRelaxed, parsed.body);
  std::string data;
  for (const auto* field : hato::dkim::select_headers(parsed.fields, names)) {
    if (!field) continue;
    hato::dkim::append_canonical_header(hato::dkim::Canon::kRelaxed, field->raw, data);
    data += "\r\n";
  }
  // Stands in for the DKIM-Signature field itself (about 400 octets, relaxed).
  hato::dkim::append_canonical_header(
      hato::dkim::Canon::kRelaxed,
      "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.test; s=s1;\r\n"
      "\tt=1773482400; h=from:from:to:subject:subject:date:date:message-id:\r\n"
      "\tmime-version:content-type;\r\n"
      "\tbh=" +
          bh + ";\r\n\tb=",
      data);
  std::string digest = hato::dkim::sha256(data);
  if (digest.size() != 32) std::abort();
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 3;
  size_t size = 4096;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::atof(argv[i + 1]);
    if (std::strcmp(argv[i], "--size") == 0) size = std::strtoul(argv[i + 1], nullptr, 10);
  }
  bool heavy = false;
  for (int i = 1; i < argc; ++i) heavy = heavy || std::strcmp(argv[i], "--whitespace-heavy") == 0;
  std::string message = make_message(size, heavy);
  const std::vector<std::string> names = {"from",         "from",        "to",   "subject",
                                          "subject",      "date",        "date", "message-id",
                                          "mime-version", "content-type"};
  std::printf("message: %zu octets%s, relaxed/relaxed, one thread, best of 10 slices of %.1f s\n",
              message.size(), heavy ? " (whitespace-heavy)" : "", seconds / 10);
  std::printf("%-16s %12s %12s %14s\n", "keys", "sign()/s", "canon+hash/s", "canon share");
  std::vector<hato::dkim::DkimKey> keys;
  for (auto alg : {hato::dkim::Algorithm::kRsaSha256, hato::dkim::Algorithm::kEd25519Sha256}) {
    auto pem = hato::dkim::generate_key_pem(alg, 2048);
    auto key = hato::dkim::parse_key(pem ? *pem : "", "example.test", "s1", alg);
    if (!key) {
      std::fprintf(stderr, "dkim_bench: %s\n", key.message().c_str());
      return 1;
    }
    keys.push_back(*key);
  }
  double canon_rate = per_second(seconds, [&] { canon_and_hash(message, names); });
  // Each key alone, then both in one sign() as a domain configured with two keys signs: the
  // message is canonicalized and hashed once for the two signatures.
  const std::vector<std::pair<const char*, std::vector<hato::dkim::DkimKey>>> kRows = {
      {"rsa-sha256/2048", {keys[0]}},
      {"ed25519-sha256", {keys[1]}},
      {"both (2 fields)", keys},
  };
  for (const auto& [name, row_keys] : kRows) {
    hato::dkim::Signer signer(row_keys);
    double sign_rate = per_second(seconds, [&] {
      auto r = signer.sign(message, 1773482400);
      if (!r) std::abort();
    });
    std::printf("%-16s %12.0f %12.0f %13.1f%%\n", name, sign_rate, canon_rate,
                100.0 * sign_rate / canon_rate);
  }
  return 0;
}
