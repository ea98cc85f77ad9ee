// tls.cc - SSL_CTX set-up and self-signed certificate generation.
#include "net/tls.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "common/ossl.h"
#include "net/ticket_keys.h"

namespace hato::net {

namespace {
struct FileClose {
  void operator()(FILE* f) const { fclose(f); }
};
using FilePtr = std::unique_ptr<FILE, FileClose>;

FilePtr open_for_write(const std::string& path, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return nullptr;
  fchmod(fd, mode);
  return FilePtr(fdopen(fd, "w"));
}
}  // namespace

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

namespace {
int64_t certificate_not_after(X509* cert) {
  struct tm tm;
  if (!cert || ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

// Loads one pair into the slot of its key type; the pair loaded last is the current one.
Status use_pair(SSL_CTX* ctx, const CertificateFiles& pair) {
  if (SSL_CTX_use_certificate_chain_file(ctx, pair.certificate.c_str()) != 1)
    return Status::error("cannot load TLS certificate " + pair.certificate + ": " +
                         openssl_error());
  if (SSL_CTX_use_PrivateKey_file(ctx, pair.key.c_str(), SSL_FILETYPE_PEM) != 1)
    return Status::error("cannot load TLS key " + pair.key + ": " + openssl_error());
  if (SSL_CTX_check_private_key(ctx) != 1)
    return Status::error("TLS key " + pair.key + " does not match certificate " + pair.certificate);
  return Status::ok();
}
}  // namespace

Result<std::shared_ptr<TlsContext>> TlsContext::load_server(const std::string& certificate,
                                                            const std::string& key) {
  return load_server(std::vector<CertificateFiles>{{certificate, key}});
}

Result<std::shared_ptr<TlsContext>> TlsContext::load_server(
    const std::vector<CertificateFiles>& pairs) {
  using R = Result<std::shared_ptr<TlsContext>>;
  SSL_CTX* raw = SSL_CTX_new(TLS_server_method());
  if (!raw) return R::error("cannot create TLS context: " + openssl_error());
  std::shared_ptr<TlsContext> ctx(new TlsContext(raw));
  SSL_CTX_set_min_proto_version(raw, TLS1_2_VERSION);
  SSL_CTX_set_options(
      raw, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // TLS 1.2: ECDHE with AEAD only. TLS 1.3 suites are all strong.
  if (SSL_CTX_set_cipher_list(raw, "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20") != 1)
    return R::error("cannot set ciphers: " + openssl_error());
  int key_types = 0;
  for (const auto& pair : pairs) {
    if (auto s = use_pair(raw, pair); !s) return s;
    int64_t until = certificate_not_after(SSL_CTX_get0_certificate(raw));
    if (until && (!ctx->not_after_ || until < ctx->not_after_)) ctx->not_after_ = until;
    ++key_types;
  }
  if (key_types == 0) return R::error("no TLS certificate");
  // A second pair of the same key type takes the first one's place: say so, not serve one.
  int slots = 0;
  for (int more = SSL_CTX_set_current_cert(raw, SSL_CERT_SET_FIRST); more == 1;
       more = SSL_CTX_set_current_cert(raw, SSL_CERT_SET_NEXT))
    ++slots;
  if (slots != key_types)
    return R::error("two TLS certificates with the same key type: give one RSA and one ECDSA");
  // Resumption, so a client that connects per message skips the signature and key exchange
  // of a full handshake: tickets (TLS 1.2 and 1.3) under the process's rotated keys, which a
  // certificate reload keeps (net/ticket_keys.h); a server-side cache for TLS 1.2 clients
  // without tickets, which a reload empties. A session is good for two hours either way.
  TicketKeys::install(raw);
  static const unsigned char kSessionContext[] = "hato";
  SSL_CTX_set_session_id_context(raw, kSessionContext, sizeof kSessionContext - 1);
  SSL_CTX_set_session_cache_mode(raw, SSL_SESS_CACHE_SERVER);
  SSL_CTX_set_timeout(raw, 2 * 3600);
  return ctx;
}

Result<std::shared_ptr<TlsContext>> TlsContext::make_client(const std::string& ca_file) {
  using R = Result<std::shared_ptr<TlsContext>>;
  SSL_CTX* raw = SSL_CTX_new(TLS_client_method());
  if (!raw) return R::error("cannot create TLS context: " + openssl_error());
  std::shared_ptr<TlsContext> ctx(new TlsContext(raw));
  SSL_CTX_set_min_proto_version(raw, TLS1_2_VERSION);
  SSL_CTX_set_options(raw, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  // Verification still runs and records its result (SSL_get_verify_result); whether a
  // failure matters is decided per connection.
  SSL_CTX_set_verify(raw, SSL_VERIFY_NONE, nullptr);
  if (SSL_CTX_set_default_verify_paths(raw) != 1)
    return R::error("cannot load the system's CA certificates: " + openssl_error());
  if (!ca_file.empty() && SSL_CTX_load_verify_locations(raw, ca_file.c_str(), nullptr) != 1)
    return R::error("cannot load CA certificates from " + ca_file + ": " + openssl_error());
  if (SSL_CTX_dane_enable(raw) <= 0) return R::error("cannot enable DANE: " + openssl_error());
  return ctx;
}

Status apply_peer_check(SSL* ssl, const PeerCheck& check) {
  switch (check.kind) {
    case PeerCheck::Kind::kNone:
      return Status::ok();
    case PeerCheck::Kind::kPkix:
      SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      for (size_t i = 0; i < check.names.size(); ++i) {
        int ok = i == 0 ? SSL_set1_host(ssl, check.names[i].c_str())
                        : SSL_add1_host(ssl, check.names[i].c_str());
        if (ok != 1) return Status::error("cannot set the name to verify: " + openssl_error());
      }
      return Status::ok();
    case PeerCheck::Kind::kDane: {
      if (check.names.empty()) return Status::error("DANE without a TLSA base domain");
      if (SSL_dane_enable(ssl, check.names[0].c_str()) <= 0)
        return Status::error("cannot enable DANE: " + openssl_error());
      // RFC 7672 3.2.3: DANE-EE(3) ignores names; DANE-TA(2) checks the MX name.
      SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
      SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      for (size_t i = 1; i < check.names.size(); ++i) SSL_add1_host(ssl, check.names[i].c_str());
      int usable = 0;
      for (const auto& t : check.tlsa) {
        int rc =
            SSL_dane_tlsa_add(ssl, t.usage, t.selector, t.mtype,
                              reinterpret_cast<const unsigned char*>(t.data.data()), t.data.size());
        if (rc > 0) ++usable;
        if (rc < 0) ERR_clear_error();  // malformed data: unusable, like an unknown type
      }
      if (usable == 0) return Status::error("no usable TLSA record");
      return Status::ok();
    }
  }
  return Status::ok();
}

std::string peer_check_failure(SSL* ssl, const PeerCheck& check, std::string* result_type) {
  if (check.kind == PeerCheck::Kind::kNone) return "";
  long verify = SSL_get_verify_result(ssl);
  if (check.kind == PeerCheck::Kind::kDane) {
    if (verify == X509_V_OK && SSL_get0_dane_authority(ssl, nullptr, nullptr) >= 0) return "";
    if (result_type) *result_type = "validation-failure";
    return std::string("certificate matches no TLSA record of ") + check.names[0] +
           (verify != X509_V_OK ? std::string(" (") + X509_verify_cert_error_string(verify) + ")"
                                : "");
  }
  if (verify == X509_V_OK) return "";
  if (result_type) {
    switch (verify) {
      case X509_V_ERR_HOSTNAME_MISMATCH:
        *result_type = "certificate-host-mismatch";
        break;
      case X509_V_ERR_CERT_HAS_EXPIRED:
        *result_type = "certificate-expired";
        break;
      default:
        *result_type = "certificate-not-trusted";
    }
  }
  std::string names;
  for (const auto& n : check.names) names += (names.empty() ? "" : ", ") + n;
  return "certificate not valid for " + names + ": " + X509_verify_cert_error_string(verify);
}

TlsContext::~TlsContext() {
  SSL_CTX_free(ctx_);
}

SSL* TlsContext::new_ssl() const {
  return SSL_new(ctx_);
}

Status generate_self_signed(const std::string& certificate, const std::string& key,
                            const std::string& hostname) {
  ossl::Pkey pkey(EVP_EC_gen("P-256"));
  if (!pkey) return Status::error("cannot generate a key: " + openssl_error());
  ossl::Cert x509(X509_new());
  X509_set_version(x509.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x509.get()), static_cast<long>(time(nullptr)));
  X509_gmtime_adj(X509_getm_notBefore(x509.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x509.get()), 10L * 365 * 24 * 3600);
  X509_set_pubkey(x509.get(), pkey.get());
  X509_NAME* name = X509_get_subject_name(x509.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(hostname.c_str()), -1, -1, 0);
  X509_set_issuer_name(x509.get(), name);
  std::string san = "DNS:" + hostname;
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str());
  if (ext) {
    X509_add_ext(x509.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(x509.get(), pkey.get(), EVP_sha256()) == 0)
    return Status::error("cannot sign certificate: " + openssl_error());

  auto kf = open_for_write(key, 0600);
  if (!kf || PEM_write_PrivateKey(kf.get(), pkey.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return Status::error("cannot write " + key + ": " + std::strerror(errno));
  auto cf = open_for_write(certificate, 0644);
  if (!cf || PEM_write_X509(cf.get(), x509.get()) != 1)
    return Status::error("cannot write " + certificate + ": " + std::strerror(errno));
  return Status::ok();
}

}  // namespace hato::net
