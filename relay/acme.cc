// acme.cc - RFC 8555 with ES256 (RFC 7518 3.4: the signature is r || s, 32 octets each,
// not OpenSSL's DER). One order at a time; every step is a callback on the loop.
#include "relay/acme.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include "common/base64.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/ossl.h"
#include "policy/dkim/key.h"

namespace hato::relay {

namespace acme {

void PKeyFree::operator()(EVP_PKEY* key) const {
  EVP_PKEY_free(key);
}

namespace {

struct ExtsFree {
  void operator()(STACK_OF(X509_EXTENSION) * s) const {
    sk_X509_EXTENSION_pop_free(s, X509_EXTENSION_free);
  }
};

std::string coordinate(EVP_PKEY* key, const char* param) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, param, &raw) != 1) return "";
  ossl::Bn bn(raw);
  unsigned char buf[32];
  if (BN_bn2binpad(bn.get(), buf, sizeof buf) != sizeof buf) return "";
  return base64url_encode(std::string_view(reinterpret_cast<char*>(buf), sizeof buf));
}

std::string sha256(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(md), n);
}

std::string json_string(std::string_view s) {
  std::string out;
  log::append_json_string(out, s);
  return out;
}

}  // namespace

Result<PKey> generate_key() {
  PKey key(EVP_EC_gen("P-256"));
  if (!key) return Result<PKey>::error("cannot generate a key: " + net::openssl_error());
  return key;
}

std::string key_pem(EVP_PKEY* key) {
  ossl::Bio bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)) return "";
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

Result<PKey> parse_key_pem(std::string_view pem) {
  ossl::Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  PKey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key || EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_EC)
    return Result<PKey>::error("not an EC private key");
  return key;
}

Result<PKey> load_or_create_key(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (in) {
    std::stringstream text;
    text << in.rdbuf();
    auto key = parse_key_pem(text.str());
    if (!key) return Result<PKey>::error(path + ": " + key.message());
    return key;
  }
  auto key = generate_key();
  if (!key) return key;
  if (auto s = dkim::write_private_key(path, key_pem(key->get())); !s) return s;
  log::info("ACME account key created", {{"file", path}});
  return key;
}

std::string jwk_json(EVP_PKEY* key) {
  return "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"" + coordinate(key, OSSL_PKEY_PARAM_EC_PUB_X) +
         "\",\"y\":\"" + coordinate(key, OSSL_PKEY_PARAM_EC_PUB_Y) + "\"}";
}

std::string jwk_thumbprint(EVP_PKEY* key) {
  return base64url_encode(sha256(jwk_json(key)));
}

std::string key_authorization(std::string_view token, EVP_PKEY* account_key) {
  return std::string(token) + "." + jwk_thumbprint(account_key);
}

Result<std::string> sign_jws(EVP_PKEY* key, const std::string& kid, const std::string& nonce,
                             const std::string& url, const std::string& payload) {
  std::string header = "{\"alg\":\"ES256\",";
  header += kid.empty() ? "\"jwk\":" + jwk_json(key) : "\"kid\":" + json_string(kid);
  header += ",\"nonce\":" + json_string(nonce) + ",\"url\":" + json_string(url) + "}";
  std::string protected64 = base64url_encode(header);
  std::string payload64 = base64url_encode(payload);
  std::string input = protected64 + "." + payload64;

  ossl::MdCtx ctx(EVP_MD_CTX_new());
  size_t length = 0;
  if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &length,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
    return Result<std::string>::error("cannot sign: " + net::openssl_error());
  std::string der(length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(der.data()), &length,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
    return Result<std::string>::error("cannot sign: " + net::openssl_error());
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  ossl::EcdsaSig sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(length)));
  if (!sig) return Result<std::string>::error("cannot read the signature");
  unsigned char raw[64];
  if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), raw, 32) != 32 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), raw + 32, 32) != 32)
    return Result<std::string>::error("signature out of range");
  return "{\"protected\":\"" + protected64 + "\",\"payload\":\"" + payload64 +
         "\",\"signature\":\"" +
         base64url_encode(std::string_view(reinterpret_cast<char*>(raw), sizeof raw)) + "\"}";
}

Result<std::pair<std::string, std::string>> make_alpn_certificate(
    const std::string& name, const std::string& key_authorization) {
  using Out = Result<std::pair<std::string, std::string>>;
  auto key = generate_key();
  if (!key) return key.status();
  ossl::Cert x(X509_new());
  std::string digest = sha256(key_authorization);
  // extnValue holds the DER of an OCTET STRING of the digest (RFC 8737 3).
  std::string inner = std::string("\x04\x20", 2) + digest;
  ASN1_OCTET_STRING* value = ASN1_OCTET_STRING_new();
  ASN1_OBJECT* oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
  X509_EXTENSION* acme_id = nullptr;
  if (value && oid &&
      ASN1_OCTET_STRING_set(value, reinterpret_cast<const unsigned char*>(inner.data()),
                            static_cast<int>(inner.size())) == 1)
    acme_id = X509_EXTENSION_create_by_OBJ(nullptr, oid, 1, value);
  ASN1_OCTET_STRING_free(value);
  ASN1_OBJECT_free(oid);
  std::string san = "DNS:" + name;
  X509_EXTENSION* alt = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str());
  bool ok = acme_id && alt && X509_set_version(x.get(), 2) == 1 &&
            ASN1_INTEGER_set(X509_get_serialNumber(x.get()), 1) == 1 &&
            X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600) &&
            X509_gmtime_adj(X509_getm_notAfter(x.get()), 7 * 86400) &&
            X509_set_pubkey(x.get(), key->get()) == 1 && X509_add_ext(x.get(), alt, -1) == 1 &&
            X509_add_ext(x.get(), acme_id, -1) == 1 &&
            X509_sign(x.get(), key->get(), EVP_sha256()) > 0;
  X509_EXTENSION_free(alt);
  X509_EXTENSION_free(acme_id);
  if (!ok) return Out::error("cannot build the TLS-ALPN-01 certificate: " + net::openssl_error());
  ossl::Bio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), x.get());
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::make_pair(std::string(data, static_cast<size_t>(n)), key_pem(key->get()));
}

Result<std::string> make_csr(EVP_PKEY* key, const std::vector<std::string>& names) {
  if (names.empty()) return Result<std::string>::error("no names for the certificate");
  ossl::CertRequest req(X509_REQ_new());
  X509_NAME* subject = X509_REQ_get_subject_name(req.get());
  std::string san;
  for (const auto& n : names) san += (san.empty() ? "DNS:" : ",DNS:") + n;
  std::unique_ptr<STACK_OF(X509_EXTENSION), ExtsFree> exts(sk_X509_EXTENSION_new_null());
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str());
  if (!ext || !sk_X509_EXTENSION_push(exts.get(), ext)) {
    X509_EXTENSION_free(ext);
    return Result<std::string>::error("cannot build subjectAltName: " + net::openssl_error());
  }
  if (X509_REQ_set_version(req.get(), 0) != 1 ||
      (names[0].size() <= 64 &&
       X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                                  reinterpret_cast<const unsigned char*>(names[0].c_str()), -1, -1,
                                  0) != 1) ||
      X509_REQ_set_pubkey(req.get(), key) != 1 ||
      X509_REQ_add_extensions(req.get(), exts.get()) != 1 ||
      X509_REQ_sign(req.get(), key, EVP_sha256()) <= 0)
    return Result<std::string>::error("cannot build the CSR: " + net::openssl_error());
  int n = i2d_X509_REQ(req.get(), nullptr);
  std::string der(static_cast<size_t>(n), '\0');
  unsigned char* out = reinterpret_cast<unsigned char*>(der.data());
  i2d_X509_REQ(req.get(), &out);
  return der;
}

}  // namespace acme

namespace {

constexpr int kPollTries = 60;
constexpr auto kPollEvery = std::chrono::seconds(1);
constexpr auto kFirstBackoff = std::chrono::seconds(10);
constexpr auto kMaxBackoff = std::chrono::hours(6);

int64_t asn1_seconds(const ASN1_TIME* t) {
  struct tm tm;
  if (ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

Counter& orders(const char* result) {
  return metrics().counter("hato_acme_orders_total", "ACME certificate orders, by result",
                           std::string("result=\"") + result + "\"");
}

// The first certificate of a PEM chain, with its validity; nullptr when unreadable.
ossl::Cert first_certificate(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  ossl::Cert cert(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  return cert;
}

std::string error_detail(const net::HttpResponse& r) {
  auto json = parse_json(r.body);
  std::string out = "HTTP " + std::to_string(r.status);
  if (json) {
    if (!(*json)["type"].is_null()) out += " " + (*json)["type"].text;
    if (!(*json)["detail"].is_null()) out += ": " + (*json)["detail"].text;
  }
  return out;
}

}  // namespace

struct AcmeClient::Order {
  std::string url;
  std::string finalize;
  std::vector<std::string> authorizations;
  acme::PKey key;  // the certificate's
};

AcmeClient::AcmeClient(Loop& loop, net::HttpClient& http, WorkerPool& workers, Options options,
                       std::function<void()> installed)
    : loop_(loop),
      http_(http),
      workers_(workers),
      options_(std::move(options)),
      installed_(std::move(installed)),
      timer_(loop, [this] { begin(); }) {
  orders("issued");
  orders("failed");
}

AcmeClient::~AcmeClient() = default;

Status AcmeClient::start() {
  auto key = acme::load_or_create_key(options_.state_dir + "/account.key");
  if (!key) return key.status();
  account_key_ = std::move(*key);
  // A CA-issued certificate for every name that is not yet due is kept until it is.
  std::ifstream in(options_.certificate, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  auto cert = first_certificate(text.str());
  if (cert && X509_check_issued(cert.get(), cert.get()) != X509_V_OK) {
    bool covers = true;
    for (const auto& name : options_.domains)
      covers = covers && X509_check_host(cert.get(), name.c_str(), name.size(), 0, nullptr) == 1;
    int64_t due = renewal_time(asn1_seconds(X509_get0_notBefore(cert.get())),
                               asn1_seconds(X509_get0_notAfter(cert.get())));
    int64_t now = log::now_ms() / 1000;
    if (covers && due > now) {
      schedule(std::chrono::seconds(due - now));
      return Status::ok();
    }
  }
  schedule(std::chrono::seconds(0));
  return Status::ok();
}

std::optional<std::string> AcmeClient::http01(const std::string& token) const {
  auto it = challenges_.find(token);
  if (it == challenges_.end()) return std::nullopt;
  return it->second;
}

bool AcmeClient::tls_alpn01(SSL* ssl, const std::string& name) const {
  auto it = alpn_.find(name);
  if (it == alpn_.end()) return false;
  auto cert = first_certificate(it->second.first);
  auto key = acme::parse_key_pem(it->second.second);
  return cert && key && SSL_use_certificate(ssl, cert.get()) == 1 &&
         SSL_use_PrivateKey(ssl, key->get()) == 1;
}

int64_t AcmeClient::renewal_time(int64_t not_before, int64_t not_after) const {
  if (options_.renew_before.count() > 0) return not_after - options_.renew_before.count();
  return not_before + (not_after - not_before) * 2 / 3;
}

void AcmeClient::schedule(std::chrono::seconds delay) {
  timer_.arm(delay);
  metrics()
      .gauge("hato_acme_next_order_timestamp_seconds",
             "When the next ACME order (first certificate or renewal) starts, Unix time")
      .set(log::now_ms() / 1000 + delay.count());
  if (delay.count() > 0)
    log::info("ACME renewal scheduled",
              {{"in_seconds", std::to_string(delay.count())},
               {"at", log::rfc3339((log::now_ms() / 1000 + delay.count()) * 1000)}});
}

void AcmeClient::failed(const std::string& step, const std::string& why) {
  order_.reset();
  challenges_.clear();
  alpn_.clear();
  orders("failed").inc();
  backoff_ = backoff_.count() == 0 ? std::chrono::seconds(kFirstBackoff)
                                   : std::min<std::chrono::seconds>(backoff_ * 2, kMaxBackoff);
  log::error("ACME certificate order failed",
             {{"step", step},
              {"reason", why},
              {"directory", options_.directory},
              {"retry_in_seconds", std::to_string(backoff_.count())}});
  timer_.arm(backoff_);
  metrics()
      .gauge("hato_acme_next_order_timestamp_seconds",
             "When the next ACME order (first certificate or renewal) starts, Unix time")
      .set(log::now_ms() / 1000 + backoff_.count());
}

void AcmeClient::begin() {
  if (order_) return;
  order_ = std::make_unique<Order>();
  std::string names;
  for (const auto& d : options_.domains) names += (names.empty() ? "" : ",") + d;
  log::info("ACME order starting", {{"directory", options_.directory}, {"names", names}});
  std::weak_ptr<int> alive = alive_;
  net::HttpRequest req;
  req.url = options_.directory;
  http_.fetch(std::move(req), [this, alive](Result<net::HttpResponse> r) {
    if (alive.expired()) return;
    if (!r) return failed("directory", r.message());
    auto json = parse_json(r->body);
    if (r->status != 200 || !json || (*json)["newOrder"].is_null())
      return failed("directory", "not an ACME directory (HTTP " + std::to_string(r->status) + ")");
    directory_ = std::move(*json);
    new_account();
  });
}

void AcmeClient::with_nonce(std::function<void(Status)> then) {
  if (!nonce_.empty()) return then(Status::ok());
  std::weak_ptr<int> alive = alive_;
  net::HttpRequest req;
  req.url = directory_["newNonce"].text;
  http_.fetch(std::move(req), [this, alive, then](Result<net::HttpResponse> r) {
    if (alive.expired()) return;
    if (!r) return then(r.status());
    nonce_ = r->header("replay-nonce");
    if (nonce_.empty()) return then(Status::error("no Replay-Nonce from newNonce"));
    then(Status::ok());
  });
}

// Every POST carries a fresh nonce; a badNonce answer is retried (RFC 8555 6.5).
void AcmeClient::post(const std::string& url, const std::string& payload, Done done, int attempt) {
  std::weak_ptr<int> alive = alive_;
  with_nonce([this, alive, url, payload, done, attempt](Status s) {
    if (alive.expired()) return;
    if (!s) return done(s);
    auto jws = acme::sign_jws(account_key_.get(), kid_, nonce_, url, payload);
    nonce_.clear();
    if (!jws) return done(jws.status());
    net::HttpRequest req;
    req.method = "POST";
    req.url = url;
    req.headers = {{"Content-Type", "application/jose+json"}};
    req.body = std::move(*jws);
    http_.fetch(std::move(req),
                [this, alive, url, payload, done, attempt](Result<net::HttpResponse> r) {
                  if (alive.expired()) return;
                  if (r) nonce_ = r->header("replay-nonce");
                  if (r && r->status == 400 && attempt < 3 &&
                      r->body.find("urn:ietf:params:acme:error:badNonce") != std::string::npos)
                    return post(url, payload, done, attempt + 1);
                  done(std::move(r));
                });
  });
}

void AcmeClient::new_account() {
  std::string payload = "{\"termsOfServiceAgreed\":true";
  if (!options_.email.empty()) {
    std::string mailto;
    log::append_json_string(mailto, "mailto:" + options_.email);
    payload += ",\"contact\":[" + mailto + "]";
  }
  payload += "}";
  kid_.clear();  // newAccount is signed with the JWK; it answers with our account URL
  post(directory_["newAccount"].text, payload, [this](Result<net::HttpResponse> r) {
    if (!r) return failed("account", r.message());
    if (r->status != 200 && r->status != 201) return failed("account", error_detail(*r));
    kid_ = r->header("location");
    if (kid_.empty()) return failed("account", "no account URL (Location)");
    new_order();
  });
}

void AcmeClient::new_order() {
  std::string payload = "{\"identifiers\":[";
  for (size_t i = 0; i < options_.domains.size(); ++i) {
    if (i) payload += ",";
    payload += "{\"type\":\"dns\",\"value\":";
    log::append_json_string(payload, options_.domains[i]);
    payload += "}";
  }
  payload += "]}";
  post(directory_["newOrder"].text, payload, [this](Result<net::HttpResponse> r) {
    if (!r) return failed("order", r.message());
    auto json = parse_json(r->body);
    if (r->status != 201 || !json) return failed("order", error_detail(*r));
    order_->url = r->header("location");
    order_->finalize = (*json)["finalize"].text;
    for (const auto& a : (*json)["authorizations"].items) order_->authorizations.push_back(a.text);
    if (order_->url.empty() || order_->finalize.empty())
      return failed("order", "order without Location or finalize URL");
    next_authorization(0);
  });
}

void AcmeClient::next_authorization(size_t i) {
  if (i == order_->authorizations.size()) return finalize();
  const std::string url = order_->authorizations[i];
  post(url, "", [this, i](Result<net::HttpResponse> r) {
    if (!r) return failed("authorization", r.message());
    auto json = parse_json(r->body);
    if (r->status != 200 || !json) return failed("authorization", error_detail(*r));
    const std::string& status = (*json)["status"].text;
    std::string name = (*json)["identifier"]["value"].text;
    if (status == "valid") return next_authorization(i + 1);
    if (status != "pending") return failed("authorization", name + " is " + status);
    const char* type = options_.tls_alpn ? "tls-alpn-01" : "http-01";
    for (const auto& c : (*json)["challenges"].items) {
      if (c["type"].text != type) continue;
      const std::string& token = c["token"].text;
      std::string authorization = acme::key_authorization(token, account_key_.get());
      if (options_.tls_alpn) {
        auto pair = acme::make_alpn_certificate(name, authorization);
        if (!pair) return failed("challenge", pair.message());
        alpn_[name] = std::move(*pair);
      } else {
        challenges_[token] = authorization;
      }
      log::info("ACME challenge", {{"name", name}, {"type", type}});
      post(c["url"].text, "{}", [this, i](Result<net::HttpResponse> answer) {
        if (!answer) return failed("challenge", answer.message());
        if (answer->status != 200) return failed("challenge", error_detail(*answer));
        poll_authorization(i, 0);
      });
      return;
    }
    failed("authorization", std::string("the CA offers no ") + type + " challenge for " + name);
  });
}

void AcmeClient::poll_authorization(size_t i, int tries) {
  post(order_->authorizations[i], "", [this, i, tries](Result<net::HttpResponse> r) {
    if (!r) return failed("authorization", r.message());
    auto json = parse_json(r->body);
    if (r->status != 200 || !json) return failed("authorization", error_detail(*r));
    const std::string& status = (*json)["status"].text;
    std::string name = (*json)["identifier"]["value"].text;
    if (status == "valid") {
      log::info("ACME authorization valid", {{"name", name}});
      return next_authorization(i + 1);
    }
    if (status == "pending" && tries < kPollTries) {
      std::weak_ptr<int> alive = alive_;
      loop_.after(kPollEvery, [this, alive, i, tries] {
        if (!alive.expired() && order_) poll_authorization(i, tries + 1);
      });
      return;
    }
    std::string why = name + " is " + status;
    for (const auto& c : (*json)["challenges"].items) {
      if (!c["error"].is_null()) why += ": " + c["error"]["detail"].text;
    }
    failed("authorization", why);
  });
}

void AcmeClient::finalize() {
  auto key = acme::generate_key();
  if (!key) return failed("finalize", key.message());
  order_->key = std::move(*key);
  auto csr = acme::make_csr(order_->key.get(), options_.domains);
  if (!csr) return failed("finalize", csr.message());
  post(order_->finalize, "{\"csr\":\"" + base64url_encode(*csr) + "\"}",
       [this](Result<net::HttpResponse> r) {
         if (!r) return failed("finalize", r.message());
         if (r->status != 200) return failed("finalize", error_detail(*r));
         poll_order(0);
       });
}

void AcmeClient::poll_order(int tries) {
  post(order_->url, "", [this, tries](Result<net::HttpResponse> r) {
    if (!r) return failed("order", r.message());
    auto json = parse_json(r->body);
    if (r->status != 200 || !json) return failed("order", error_detail(*r));
    const std::string& status = (*json)["status"].text;
    if (status == "valid") return download((*json)["certificate"].text);
    if (status == "processing" && tries < kPollTries) {
      std::weak_ptr<int> alive = alive_;
      loop_.after(kPollEvery, [this, alive, tries] {
        if (!alive.expired() && order_) poll_order(tries + 1);
      });
      return;
    }
    failed("order", "order is " + status);
  });
}

void AcmeClient::download(const std::string& url) {
  post(url, "", [this](Result<net::HttpResponse> r) {
    if (!r) return failed("certificate", r.message());
    if (r->status != 200) return failed("certificate", error_detail(*r));
    install(r->body);
  });
}

// The new pair replaces the files by rename (key first: CertificateWatch and the loader
// take a pair only when the two match), then the listeners pick it up.
void AcmeClient::install(const std::string& chain) {
  auto cert = first_certificate(chain);
  if (!cert || X509_check_private_key(cert.get(), order_->key.get()) != 1)
    return failed("certificate", "the CA sent a certificate that does not match our key");
  int64_t not_before = asn1_seconds(X509_get0_notBefore(cert.get()));
  int64_t not_after = asn1_seconds(X509_get0_notAfter(cert.get()));
  // fsync'd writes: on the worker pool, then back to the loop.
  std::weak_ptr<int> alive = alive_;
  workers_.post([this, alive, loop = &loop_, cert_path = options_.certificate,
                 key_path = options_.key, key = acme::key_pem(order_->key.get()), chain, not_before,
                 not_after] {
    auto write = [](const std::string& path, const std::string& text) {
      std::string tmp = path + ".new";
      ::unlink(tmp.c_str());
      if (auto s = dkim::write_private_key(tmp, text); !s) return s;
      if (::rename(tmp.c_str(), path.c_str()) != 0)
        return Status::error("cannot rename " + tmp + ": " + std::strerror(errno));
      return Status::ok();
    };
    Status s = write(key_path, key);
    if (s) s = write(cert_path, chain);
    loop->post([this, alive, s, not_before, not_after] {
      if (!alive.expired()) installed(s, not_before, not_after);
    });
  });
}

void AcmeClient::installed(Status written, int64_t not_before, int64_t not_after) {
  if (!written) return failed("install", written.message());
  order_.reset();
  challenges_.clear();
  alpn_.clear();
  backoff_ = std::chrono::seconds(0);
  orders("issued").inc();
  log::info("ACME certificate installed",
            {{"file", options_.certificate}, {"not_after", log::rfc3339(not_after * 1000)}});
  installed_();
  int64_t due = renewal_time(not_before, not_after) - log::now_ms() / 1000;
  schedule(std::chrono::seconds(std::max<int64_t>(due, 1)));
}

}  // namespace hato::relay
