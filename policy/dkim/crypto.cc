// crypto.cc - signing and verifying a digest with EVP_PKEY (OpenSSL 3, no deprecated RSA_*).
// A fresh context per call: contexts are cheap and not shareable, the key is shared read-only.
#include "policy/dkim/crypto.h"

#include <openssl/rsa.h>

#include "policy/dkim/ossl.h"

namespace hato::dkim {

namespace {

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// A context for RSASSA-PKCS1-v1_5 with SHA-256: EVP_PKEY_sign then wraps the digest in the
// DigestInfo itself.
ossl::PkeyCtx rsa_context(EVP_PKEY* pkey, bool for_signing) {
  ossl::PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  if (!ctx) return nullptr;
  int ok = for_signing ? EVP_PKEY_sign_init(ctx.get()) : EVP_PKEY_verify_init(ctx.get());
  if (ok != 1 || EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1 ||
      EVP_PKEY_CTX_set_signature_md(ctx.get(), ossl::sha256_md()) != 1) {
    return nullptr;
  }
  return ctx;
}

}  // namespace

Result<std::string> sign_digest(EVP_PKEY* pkey, Algorithm alg, std::string_view digest) {
  std::string sig;
  size_t len = 0;
  if (alg == Algorithm::kRsaSha256) {
    ossl::PkeyCtx ctx = rsa_context(pkey, true);
    if (ctx && EVP_PKEY_sign(ctx.get(), nullptr, &len, bytes(digest), digest.size()) == 1) {
      sig.resize(len);
      if (EVP_PKEY_sign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                        bytes(digest), digest.size()) == 1) {
        sig.resize(len);
        return sig;
      }
    }
  } else {
    ossl::MdCtx ctx(EVP_MD_CTX_new());
    if (ctx &&
        EVP_DigestSignInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, pkey, nullptr) == 1 &&
        EVP_DigestSign(ctx.get(), nullptr, &len, bytes(digest), digest.size()) == 1) {
      sig.resize(len);
      if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                         bytes(digest), digest.size()) == 1) {
        sig.resize(len);
        return sig;
      }
    }
  }
  return Result<std::string>::error("DKIM signing failed: " + ossl::last_error());
}

bool verify_digest(EVP_PKEY* pkey, Algorithm alg, std::string_view digest,
                   std::string_view signature) {
  bool ok = false;
  if (alg == Algorithm::kRsaSha256) {
    ossl::PkeyCtx ctx = rsa_context(pkey, false);
    ok = ctx && EVP_PKEY_verify(ctx.get(), bytes(signature), signature.size(), bytes(digest),
                                digest.size()) == 1;
  } else {
    ossl::MdCtx ctx(EVP_MD_CTX_new());
    ok = ctx &&
         EVP_DigestVerifyInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, pkey, nullptr) ==
             1 &&
         EVP_DigestVerify(ctx.get(), bytes(signature), signature.size(), bytes(digest),
                          digest.size()) == 1;
  }
  ERR_clear_error();  // a bad signature leaves errors queued; they are not ours to report
  return ok;
}

}  // namespace hato::dkim
