// acme_test.cc - the ACME building blocks checked with OpenSSL independently: the JWS
// verifies as ES256 under the JWK it names, the thumbprint is RFC 7638's, the CSR carries
// the names and a valid self-signature.
#define BOOST_TEST_MODULE acme
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <boost/test/unit_test.hpp>
#include <string>

#include "common/base64.h"
#include "common/json.h"
#include "relay/acme.h"

using namespace hato;
using namespace hato::relay;

namespace {

std::string unb64url(std::string s) {
  for (char& c : s) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  while (s.size() % 4) s += '=';
  auto out = base64_decode(s);
  BOOST_TEST_REQUIRE(out.has_value());
  return *out;
}

acme::PKey fresh_key() {
  auto key = acme::generate_key();
  BOOST_TEST_REQUIRE(key.is_ok());
  return std::move(*key);
}

// r || s back to DER, verified with the key.
bool verify_es256(EVP_PKEY* key, const std::string& input, const std::string& raw) {
  if (raw.size() != 64) return false;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  ECDSA_SIG_set0(sig, BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr),
                 BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr));
  unsigned char* der = nullptr;
  int n = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok =
      EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
      EVP_DigestVerify(ctx, der, static_cast<size_t>(n),
                       reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  OPENSSL_free(der);
  return ok;
}

}  // namespace

BOOST_AUTO_TEST_CASE(base64url_has_no_padding_and_url_alphabet) {
  BOOST_TEST(base64url_encode("\xfb\xff") == "-_8");
  BOOST_TEST(base64url_encode("") == "");
  BOOST_TEST(base64url_encode("abcd") == "YWJjZA");
}

BOOST_AUTO_TEST_CASE(jws_verifies_under_its_jwk_and_names_url_and_nonce) {
  auto key = fresh_key();
  auto jws = acme::sign_jws(key.get(), "", "nonce-1", "https://ca.test/new-acct",
                            "{\"termsOfServiceAgreed\":true}");
  BOOST_TEST_REQUIRE(jws.is_ok());
  auto outer = parse_json(*jws);
  BOOST_TEST_REQUIRE(outer.has_value());
  std::string protected64 = (*outer)["protected"].text;
  std::string payload64 = (*outer)["payload"].text;
  auto header = parse_json(unb64url(protected64));
  BOOST_TEST_REQUIRE(header.has_value());
  BOOST_TEST((*header)["alg"].text == "ES256");
  BOOST_TEST((*header)["nonce"].text == "nonce-1");
  BOOST_TEST((*header)["url"].text == "https://ca.test/new-acct");
  BOOST_TEST((*header)["jwk"]["kty"].text == "EC");
  BOOST_TEST((*header)["kid"].is_null());
  BOOST_TEST(unb64url(payload64) == "{\"termsOfServiceAgreed\":true}");
  BOOST_TEST(
      verify_es256(key.get(), protected64 + "." + payload64, unb64url((*outer)["signature"].text)));
  // Another key does not verify it.
  auto other = fresh_key();
  BOOST_TEST(!verify_es256(other.get(), protected64 + "." + payload64,
                           unb64url((*outer)["signature"].text)));
}

BOOST_AUTO_TEST_CASE(jws_with_kid_and_post_as_get) {
  auto key = fresh_key();
  auto jws = acme::sign_jws(key.get(), "https://ca.test/acct/1", "n2", "https://ca.test/o/1", "");
  BOOST_TEST_REQUIRE(jws.is_ok());
  auto outer = parse_json(*jws);
  auto header = parse_json(unb64url((*outer)["protected"].text));
  BOOST_TEST((*header)["kid"].text == "https://ca.test/acct/1");
  BOOST_TEST((*header)["jwk"].is_null());
  BOOST_TEST((*outer)["payload"].text == "");  // RFC 8555 6.3
}

BOOST_AUTO_TEST_CASE(thumbprint_is_sha256_of_the_canonical_jwk) {
  auto key = fresh_key();
  std::string jwk = acme::jwk_json(key.get());
  // RFC 7638 3.2: required members only, lexicographic order, no white space.
  BOOST_TEST(jwk.starts_with("{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\""));
  auto parsed = parse_json(jwk);
  BOOST_TEST_REQUIRE(parsed.has_value());
  BOOST_TEST(unb64url((*parsed)["x"].text).size() == 32u);
  BOOST_TEST(unb64url((*parsed)["y"].text).size() == 32u);
  unsigned char md[32];
  unsigned int n = 0;
  EVP_Digest(jwk.data(), jwk.size(), md, &n, EVP_sha256(), nullptr);
  std::string expected = base64url_encode(std::string_view(reinterpret_cast<char*>(md), n));
  BOOST_TEST(acme::jwk_thumbprint(key.get()) == expected);
  BOOST_TEST(acme::key_authorization("tok", key.get()) == "tok." + expected);
}

BOOST_AUTO_TEST_CASE(csr_carries_the_names_and_verifies) {
  auto key = fresh_key();
  auto der = acme::make_csr(key.get(), {"relay.example.test", "mta-sts.example.test"});
  BOOST_TEST_REQUIRE(der.is_ok());
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der->data());
  X509_REQ* req = d2i_X509_REQ(nullptr, &p, static_cast<long>(der->size()));
  BOOST_TEST_REQUIRE(req != nullptr);
  BOOST_TEST(X509_REQ_verify(req, key.get()) == 1);
  STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(req);
  BOOST_TEST_REQUIRE(exts != nullptr);
  std::vector<std::string> names;
  for (int i = 0; i < sk_X509_EXTENSION_num(exts); ++i) {
    X509_EXTENSION* ext = sk_X509_EXTENSION_value(exts, i);
    if (OBJ_obj2nid(X509_EXTENSION_get_object(ext)) != NID_subject_alt_name) continue;
    auto* gens = static_cast<GENERAL_NAMES*>(X509V3_EXT_d2i(ext));
    for (int j = 0; j < sk_GENERAL_NAME_num(gens); ++j) {
      GENERAL_NAME* g = sk_GENERAL_NAME_value(gens, j);
      if (g->type == GEN_DNS)
        names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(g->d.dNSName)));
    }
    GENERAL_NAMES_free(gens);
  }
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  X509_REQ_free(req);
  BOOST_TEST(names == (std::vector<std::string>{"relay.example.test", "mta-sts.example.test"}),
             boost::test_tools::per_element());
  BOOST_TEST(!acme::make_csr(key.get(), {}).is_ok());
}

BOOST_AUTO_TEST_CASE(key_pem_round_trips) {
  auto key = fresh_key();
  auto back = acme::parse_key_pem(acme::key_pem(key.get()));
  BOOST_TEST_REQUIRE(back.is_ok());
  BOOST_TEST(acme::jwk_json(back->get()) == acme::jwk_json(key.get()));
  BOOST_TEST(!acme::parse_key_pem("not a key").is_ok());
}

BOOST_AUTO_TEST_CASE(tls_alpn_certificate_carries_the_critical_acme_identifier) {
  auto pair = acme::make_alpn_certificate("mta-sts.example.test", "tok.thumb");
  BOOST_TEST_REQUIRE(pair.is_ok());
  BIO* bio = BIO_new_mem_buf(pair->first.data(), static_cast<int>(pair->first.size()));
  X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  BOOST_TEST_REQUIRE(x != nullptr);
  BOOST_TEST(X509_check_host(x, "mta-sts.example.test", 0, 0, nullptr) == 1);
  ASN1_OBJECT* oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
  int at = X509_get_ext_by_OBJ(x, oid, -1);
  ASN1_OBJECT_free(oid);
  BOOST_TEST_REQUIRE(at >= 0);
  X509_EXTENSION* ext = X509_get_ext(x, at);
  BOOST_TEST(X509_EXTENSION_get_critical(ext) == 1);
  const ASN1_OCTET_STRING* value = X509_EXTENSION_get_data(ext);
  std::string der(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                  static_cast<size_t>(ASN1_STRING_length(value)));
  unsigned char md[32];
  unsigned int n = 0;
  std::string ka = "tok.thumb";
  EVP_Digest(ka.data(), ka.size(), md, &n, EVP_sha256(), nullptr);
  BOOST_TEST(der == std::string("\x04\x20", 2) + std::string(reinterpret_cast<char*>(md), n));
  auto key = acme::parse_key_pem(pair->second);
  BOOST_TEST_REQUIRE(key.is_ok());
  BOOST_TEST(X509_check_private_key(x, key->get()) == 1);
  X509_free(x);
}
