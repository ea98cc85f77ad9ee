// interop_test.cc - Hato's DKIM against verifiers and signers nobody here wrote:
//   * our signatures (RSA and Ed25519 side by side, keys from `hato dkim keygen`, every
//     canonicalization pair) verified by python3-dkim (dkim.DKIM(msg).verify(idx=i, dnsfunc=...))
//     and by OpenDKIM (`opendkim -t` with TestPublicKeys);
//   * python3-dkim's signatures verified by ours.
// Over messages with folded headers, trailing whitespace, an empty body, long lines, 8-bit and
// UTF-8 content, repeated headers. Needs Debian's /usr/bin/python3 with python3-dkim and
// python3-nacl, and /usr/sbin/opendkim.
#include <boost/test/unit_test.hpp>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <ctime>

#include "common/base64.h"
#include "dkim_test_util.h"
#include "policy/dkim/signer.h"

namespace hato::dkim {
namespace {

using testing::GeneratedKey;
using testing::run;
using testing::shell_quote;
using testing::TempDir;

const char kPython[] = "/usr/bin/python3";  // Debian's, where python3-dkim is installed
const char kOpendkim[] = "/usr/sbin/opendkim";

// Verifies each file given, every signature in it, with the key records of a JSON table;
// prints "<file> <True|False>..." per file.
const char kPyVerify[] = R"(import json, sys, dkim
keys = json.load(open(sys.argv[1]))
def dns(name, timeout=5):
    return keys.get(name.decode('ascii').rstrip('.'), '').encode() or None
for path in sys.argv[2:]:
    msg = open(path, 'rb').read()
    headers, _ = dkim.rfc822_parse(msg)
    n = sum(1 for k, _ in headers if k.lower() == b'dkim-signature')
    d = dkim.DKIM(msg)
    def one(i):
        try:
            return d.verify(idx=i, dnsfunc=dns)
        except dkim.DKIMException as e:  # some failures raise instead of returning False
            print(path, i, e, file=sys.stderr)
            return False
    print(path, *[one(i) for i in range(n)])
)";

// Signs message files as a JSON list of jobs says: [{"src", "out", "selector", "domain", "key",
// "algorithm", "header", "body", "length"}, ...]. One process for all: python starts slowly.
const char kPySign[] = R"(import json, sys, dkim
for job in json.load(open(sys.argv[1])):
    msg = open(job['src'], 'rb').read()
    sig = dkim.sign(msg, job['selector'].encode(), job['domain'].encode(),
                    open(job['key'], 'rb').read(),
                    canonicalize=(job['header'].encode(), job['body'].encode()),
                    signature_algorithm=job['algorithm'].encode(),
                    include_headers=[b'from', b'to', b'cc', b'subject', b'date', b'from'],
                    length=job['length'])
    open(job['out'], 'wb').write(sig + msg)
)";

struct Sample {
  std::string name;
  std::string message;
  // What `opendkim -t` cannot check, shown the same with python3-dkim's own signatures: its
  // test mode rewrites the whitespace after a header colon to one space (so simple header
  // canonicalization fails when it was anything else), and gives no result at all for a
  // relaxed body without a final CRLF.
  bool opendkim_needs_relaxed_header = false;
  bool opendkim_needs_simple_body = false;
};

std::vector<Sample> samples() {
  std::string long_subject(900, 's');
  std::string long_word(5000, 'w');
  std::string spaced_long;
  for (int i = 0; i < 300; ++i) spaced_long += "word \t  ";
  return {
      {"folded",
       "From: \"Alice Example\" <alice@example.test>\r\n"
       "To: Bob <bob@example.net>,\r\n"
       "\tCarol <carol@example.net>,\r\n"
       "  Dave <dave@example.net>\r\n"
       "Subject: a subject that is folded\r\n"
       " over two lines\r\n"
       "References: <1@example.test>\r\n <2@example.test>\r\n\t<3@example.test>\r\n"
       "Date: Sat, 14 Mar 2026 10:00:00 +0000\r\n"
       "Message-ID: <folded@example.test>\r\n"
       "\r\n"
       "Body.\r\n"},
      {"trailing_whitespace",
       "From: alice@example.test  \r\n"
       "To: bob@example.net \t\r\n"
       "Subject: lots   of \t space  \r\n"
       "Date: Sat, 14 Mar 2026 10:00:00 +0000\r\n"
       "\r\n"
       "line with trailing spaces   \r\n"
       "line with a trailing tab\t\r\n"
       "  \t  \r\n"
       "inner   runs\tof \t whitespace\r\n"
       "\r\n"
       "   \r\n"
       "\r\n"},
      {"odd_space_after_colon",
       "From:alice@example.test\r\n"
       "To:   bob@example.net\r\n"
       "Subject:\t  tab and spaces\r\n"
       "\r\n"
       "Body.\r\n",
       true},
      {"empty_body",
       "From: alice@example.test\r\n"
       "To: bob@example.net\r\n"
       "Subject: nothing to say\r\n"
       "\r\n"},
      {"long_lines",
       "From: alice@example.test\r\n"
       "To: bob@example.net\r\n"
       "Subject: " +
           long_subject +
           "\r\n"
           "\r\n" +
           long_word + "\r\n" + spaced_long + "\r\n" + long_word + "  \r\n"},
      {"eight_bit_utf8",
       "From: =?utf-8?q?J=C3=BCrgen?= <juergen@example.test>\r\n"
       "To: Zoë <zoe@example.net>\r\n"
       "Subject: Grüße aus Köln – 日本語のテスト\r\n"
       "MIME-Version: 1.0\r\n"
       "Content-Type: text/plain; charset=utf-8\r\n"
       "Content-Transfer-Encoding: 8bit\r\n"
       "\r\n"
       "Grüße, 日本語, emoji \xf0\x9f\x93\xa7.\r\n"
       "Latin-1 octets: \xe9\xfc\xdf \xff\xfe\r\n"
       "\r\n"},
      {"repeated_headers",
       "Received: from a by b; Sat, 14 Mar 2026 10:00:02 +0000\r\n"
       "Received: from c by a; Sat, 14 Mar 2026 10:00:01 +0000\r\n"
       "from: Alice <alice@example.test>\r\n"
       "To: bob@example.net\r\n"
       "Cc: c1@example.net\r\n"
       "To: carol@example.net\r\n"
       "CC: c2@example.net\r\n"
       "cc: c3@example.net\r\n"
       "SUBJECT: case and repeats\r\n"
       "Comments: one\r\n"
       "Comments: two\r\n"
       "List-Unsubscribe: <mailto:unsub@example.test>\r\n"
       "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
       "message-id: <repeat@example.test>\r\n"
       "\r\n"
       "Body.\r\n"},
      {"no_final_crlf",
       "From: alice@example.test\r\n"
       "Subject: the body ends without a line break\r\n"
       "\r\n"
       "first\r\n"
       "last",
       false, true},
      {"multipart",
       "From: Alice <alice@example.test>\r\n"
       "To: bob@example.net\r\n"
       "Subject: attachment\r\n"
       "MIME-Version: 1.0\r\n"
       "Content-Type: multipart/mixed; boundary=\"XYZ\"\r\n"
       "\r\n"
       "--XYZ\r\n"
       "Content-Type: text/plain; charset=us-ascii\r\n"
       "\r\n"
       "See attached.\r\n"
       "--XYZ\r\n"
       "Content-Type: application/octet-stream\r\n"
       "Content-Transfer-Encoding: base64\r\n"
       "\r\n"
       "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v\r\n"
       "MDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5f\r\n"
       "--XYZ--\r\n"},
  };
}

const std::pair<Canon, Canon> kCanons[] = {{Canon::kRelaxed, Canon::kRelaxed},
                                           {Canon::kSimple, Canon::kSimple},
                                           {Canon::kRelaxed, Canon::kSimple},
                                           {Canon::kSimple, Canon::kRelaxed}};

std::string canon_label(std::pair<Canon, Canon> c) {
  auto one = [](Canon x) { return x == Canon::kSimple ? std::string("simple") : "relaxed"; };
  return one(c.first) + "-" + one(c.second);
}

struct Fixture {
  TempDir dir;
  GeneratedKey rsa = testing::keygen(dir, "example.test", "rsa1", Algorithm::kRsaSha256);
  GeneratedKey ed = testing::keygen(dir, "example.test", "ed1", Algorithm::kEd25519Sha256);

  Fixture() {
    testing::write_file(dir / "verify.py", kPyVerify);
    testing::write_file(dir / "sign.py", kPySign);
    testing::write_file(dir / "keys.json", "{\"" + rsa.record_name + "\": \"" + rsa.record +
                                               "\", \"" + ed.record_name + "\": \"" + ed.record +
                                               "\"}");
    testing::write_file(dir / "keys.txt", rsa.record_name + " " + rsa.record + "\n" +
                                              ed.record_name + " " + ed.record + "\n");
    testing::write_file(dir / "opendkim.conf",
                        "Mode v\nSyslog no\nMinimumKeyBits 1024\n"
                        "TestPublicKeys " +
                            dir / "keys.txt" + "\n");
    // python3-dkim takes an Ed25519 key as the base64 of its 32-octet seed.
    std::string pem = testing::read_file(ed.pem_path);
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    unsigned char seed[32];
    size_t len = sizeof(seed);
    BOOST_TEST_REQUIRE(EVP_PKEY_get_raw_private_key(pkey, seed, &len) == 1);
    EVP_PKEY_free(pkey);
    testing::write_file(dir / "ed1.seed",
                        base64_encode(std::string(reinterpret_cast<char*>(seed), len)));
  }

  KeyLookup lookup() const {
    return testing::table_lookup({{rsa.record_name, {rsa.record}}, {ed.record_name, {ed.record}}});
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

bool tool_present(const char* path, const char* package) {
  if (access(path, X_OK) == 0) return true;
  BOOST_ERROR(path << " is missing: apt-get install " << package);
  return false;
}

BOOST_AUTO_TEST_SUITE(interop)

BOOST_AUTO_TEST_CASE(python_dkim_and_opendkim_verify_our_signatures) {
  if (!tool_present(kPython, "python3 python3-dkim python3-nacl")) return;
  bool have_opendkim = tool_present(kOpendkim, "opendkim");
  Fixture& f = fixture();
  std::vector<std::string> files;
  std::vector<std::string> for_opendkim;
  for (const auto& sample : samples()) {
    for (auto canon : kCanons) {
      SignerOptions options;
      options.header_canon = canon.first;
      options.body_canon = canon.second;
      Signer signer({f.rsa.key, f.ed.key}, options);
      auto fields = signer.sign(sample.message, std::time(nullptr));
      BOOST_TEST_REQUIRE(fields.is_ok(), fields.message());
      std::string path = f.dir / ("ours-" + sample.name + "-" + canon_label(canon) + ".eml");
      testing::write_file(path, *fields + sample.message);
      files.push_back(path);
      if (!(sample.opendkim_needs_relaxed_header && canon.first == Canon::kSimple) &&
          !(sample.opendkim_needs_simple_body && canon.second == Canon::kRelaxed)) {
        for_opendkim.push_back(path);
      }

      // Our own verifier agrees, to begin with.
      auto own = testing::verify_now(*fields + sample.message, f.lookup(), std::time(nullptr));
      BOOST_TEST(testing::verdicts(own) == "pass pass", path << testing::reasons(own));
    }
  }
  BOOST_TEST(for_opendkim.size() == files.size() - 4);

  std::string cmd = std::string(kPython) + " " + shell_quote(f.dir / "verify.py") + " " +
                    shell_quote(f.dir / "keys.json");
  for (const auto& file : files) cmd += " " + shell_quote(file);
  auto py = run(cmd);
  BOOST_TEST_REQUIRE(py.status == 0, py.output);
  for (const auto& file : files) {
    BOOST_TEST(py.output.find(file + " True True\n") != std::string::npos, "python3-dkim on "
                                                                               << file << ":\n"
                                                                               << py.output);
  }

  if (!have_opendkim) return;
  for (const auto& file : for_opendkim) {
    auto od = run(std::string(kOpendkim) + " -x " + shell_quote(f.dir / "opendkim.conf") +
                  " -vvv -t " + shell_quote(file));
    BOOST_TEST(od.status == 0, od.output);
    // -vvv shows the Authentication-Results it would add: one dkim= result per signature.
    size_t passes = 0, results = 0;
    for (size_t at = 0; (at = od.output.find("dkim=", at)) != std::string::npos; ++at) {
      ++results;
      passes += od.output.compare(at, 9, "dkim=pass") == 0;
    }
    BOOST_TEST(passes == 2u, "opendkim on " << file << ":\n" << od.output);
    BOOST_TEST(od.output.find("header.a=rsa-sha256") != std::string::npos, file);
    BOOST_TEST(od.output.find("header.a=ed25519-sha256") != std::string::npos, file);
    BOOST_TEST(results == passes, od.output);  // no other dkim= result
  }
}

// The negative control: the same tools must reject what we broke, or the test above proves
// nothing.
BOOST_AUTO_TEST_CASE(outside_verifiers_reject_a_changed_message) {
  if (!tool_present(kPython, "python3 python3-dkim python3-nacl")) return;
  Fixture& f = fixture();
  const std::string message = samples()[0].message;
  auto fields = Signer({f.rsa.key, f.ed.key}).sign(message, std::time(nullptr));
  BOOST_TEST_REQUIRE(fields.is_ok());
  std::string changed = *fields + message;
  changed.replace(changed.find("Body."), 5, "Bodz.");
  testing::write_file(f.dir / "changed.eml", changed);
  auto py = run(std::string(kPython) + " " + shell_quote(f.dir / "verify.py") + " " +
                shell_quote(f.dir / "keys.json") + " " + shell_quote(f.dir / "changed.eml"));
  BOOST_TEST(py.output.find("changed.eml False False") != std::string::npos, py.output);
  if (!tool_present(kOpendkim, "opendkim")) return;
  auto od = run(std::string(kOpendkim) + " -x " + shell_quote(f.dir / "opendkim.conf") +
                " -vvv -t " + shell_quote(f.dir / "changed.eml"));
  BOOST_TEST(od.output.find("dkim=pass") == std::string::npos, od.output);
  BOOST_TEST(od.output.find("dkim=fail") != std::string::npos, od.output);
}

std::string json_string(const std::string& s) {
  return "\"" + s + "\"";
}  // plain paths only

// Runs sign.py over `jobs` (JSON objects).
void python_sign(const std::vector<std::string>& jobs) {
  Fixture& f = fixture();
  std::string list = "[";
  for (const auto& job : jobs) list += (list.size() > 1 ? ",\n" : "") + job;
  testing::write_file(f.dir / "jobs.json", list + "]");
  auto r = run(std::string(kPython) + " " + shell_quote(f.dir / "sign.py") + " " +
               shell_quote(f.dir / "jobs.json"));
  BOOST_TEST_REQUIRE(r.status == 0, r.output);
}

std::string sign_job(const std::string& src, const std::string& out, const GeneratedKey& key,
                     std::pair<Canon, Canon> canon, bool length) {
  Fixture& f = fixture();
  bool rsa = key.key.alg == Algorithm::kRsaSha256;
  std::string label = canon_label(canon);
  return "{\"src\": " + json_string(src) + ", \"out\": " + json_string(out) +
         ", \"selector\": " + json_string(key.key.selector) +
         ", \"domain\": " + json_string(key.key.domain) +
         ", \"key\": " + json_string(rsa ? key.pem_path : f.dir / "ed1.seed") +
         ", \"algorithm\": " + json_string(rsa ? "rsa-sha256" : "ed25519-sha256") +
         ", \"header\": " + json_string(label.substr(0, label.find('-'))) +
         ", \"body\": " + json_string(label.substr(label.find('-') + 1)) +
         ", \"length\": " + (length ? "true" : "false") + "}";
}

BOOST_AUTO_TEST_CASE(we_verify_python_dkim_signatures) {
  if (!tool_present(kPython, "python3 python3-dkim python3-nacl")) return;
  Fixture& f = fixture();
  std::vector<std::string> jobs, outs;
  for (const auto& sample : samples()) {
    std::string src = f.dir / ("plain-" + sample.name + ".eml");
    testing::write_file(src, sample.message);
    for (auto canon : kCanons) {
      for (const auto* key : {&f.rsa, &f.ed}) {
        outs.push_back(f.dir / ("py-" + sample.name + "-" + canon_label(canon) + "-" +
                                key->key.selector + ".eml"));
        jobs.push_back(sign_job(src, outs.back(), *key, canon, false));
      }
    }
  }
  python_sign(jobs);
  for (const auto& out : outs) {
    auto results = testing::verify_now(testing::read_file(out), f.lookup(), std::time(nullptr));
    BOOST_TEST(testing::verdicts(results) == "pass", out << testing::reasons(results));
  }
}

// python3-dkim signs with l= when asked; text appended later passes, and we say so.
BOOST_AUTO_TEST_CASE(python_dkim_body_length_signature) {
  if (!tool_present(kPython, "python3 python3-dkim python3-nacl")) return;
  Fixture& f = fixture();
  std::string src = f.dir / "l-plain.eml";
  testing::write_file(src, samples()[0].message);
  std::string out = f.dir / "l-signed.eml";
  python_sign({sign_job(src, out, f.ed, {Canon::kRelaxed, Canon::kRelaxed}, true)});
  std::string appended = testing::read_file(out) + "Appended after signing.\r\n";
  auto results = testing::verify_now(appended, f.lookup(), std::time(nullptr));
  BOOST_TEST_REQUIRE(testing::verdicts(results) == "pass", testing::reasons(results));
  BOOST_TEST(results[0].body_length.has_value());
  BOOST_TEST(results[0].reason.find("(l=)") != std::string::npos, results[0].reason);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato::dkim
