// ossl.h - RAII owners for OpenSSL handles, one set for the whole tree. Include it from .cc
// files only: no OpenSSL header reaches a public interface (STYLE.md).
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

namespace hato::ossl {

// Calls the handle's own free function.
template <auto FreeFn>
struct Free {
  template <class T>
  void operator()(T* p) const {
    FreeFn(p);
  }
};

using Bio = std::unique_ptr<BIO, Free<BIO_free>>;
using Bn = std::unique_ptr<BIGNUM, Free<BN_free>>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, Free<EVP_MD_CTX_free>>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, Free<EVP_PKEY_CTX_free>>;
using Pkey = std::unique_ptr<EVP_PKEY, Free<EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Free<X509_free>>;
using CertRequest = std::unique_ptr<X509_REQ, Free<X509_REQ_free>>;
using EcdsaSig = std::unique_ptr<ECDSA_SIG, Free<ECDSA_SIG_free>>;

// SHA-256, fetched once: an implicit fetch on every EVP_DigestInit_ex takes a global lock in
// OpenSSL 3.0, which shows on a worker pool. Lives until exit on purpose.
inline const EVP_MD* sha256_md() {
  static const EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

// The most recent OpenSSL error as text (and the queue cleared), for Status messages.
inline std::string last_error() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof(buf));
  return buf;
}

}  // namespace hato::ossl
