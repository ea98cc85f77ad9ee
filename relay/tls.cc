// tls.cc - SSL_CTX set-up and self-signed certificate generation.
#include "relay/tls.h"

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

namespace hato::relay {

namespace {
struct EvpPkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
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

Result<std::shared_ptr<TlsContext>> TlsContext::load_server(const std::string& certificate,
                                                            const std::string& key) {
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
  if (SSL_CTX_use_certificate_chain_file(raw, certificate.c_str()) != 1)
    return R::error("cannot load TLS certificate " + certificate + ": " + openssl_error());
  if (SSL_CTX_use_PrivateKey_file(raw, key.c_str(), SSL_FILETYPE_PEM) != 1)
    return R::error("cannot load TLS key " + key + ": " + openssl_error());
  if (SSL_CTX_check_private_key(raw) != 1)
    return R::error("TLS key " + key + " does not match certificate " + certificate);
  SSL_CTX_set_session_cache_mode(raw, SSL_SESS_CACHE_SERVER);
  return ctx;
}

Result<std::shared_ptr<TlsContext>> TlsContext::make_client() {
  using R = Result<std::shared_ptr<TlsContext>>;
  SSL_CTX* raw = SSL_CTX_new(TLS_client_method());
  if (!raw) return R::error("cannot create TLS context: " + openssl_error());
  std::shared_ptr<TlsContext> ctx(new TlsContext(raw));
  SSL_CTX_set_min_proto_version(raw, TLS1_2_VERSION);
  SSL_CTX_set_options(raw, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_verify(raw, SSL_VERIFY_NONE, nullptr);
  return ctx;
}

TlsContext::~TlsContext() {
  SSL_CTX_free(ctx_);
}

SSL* TlsContext::new_ssl() const {
  return SSL_new(ctx_);
}

int64_t TlsContext::not_after() const {
  X509* cert = SSL_CTX_get0_certificate(ctx_);
  if (!cert) return 0;
  struct tm tm;
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

Status generate_self_signed(const std::string& certificate, const std::string& key,
                            const std::string& hostname) {
  std::unique_ptr<EVP_PKEY, EvpPkeyFree> pkey(EVP_EC_gen("P-256"));
  if (!pkey) return Status::error("cannot generate a key: " + openssl_error());
  std::unique_ptr<X509, X509Free> x509(X509_new());
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

}  // namespace hato::relay
