// key.h - DKIM signing keys: algorithms, loading a PEM private key, generating one, and the
// DNS TXT record that publishes its public half (RFC 6376 3.6.1, RFC 8463 for Ed25519).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY, kept out of this interface

namespace hato::dkim {

enum class Algorithm { kRsaSha256, kEd25519Sha256 };

// "rsa-sha256" / "ed25519-sha256", as in a= and in the configuration.
std::string_view algorithm_name(Algorithm alg);
std::optional<Algorithm> parse_algorithm(std::string_view name);

// RSA key sizes Hato signs with: RFC 8301 forbids less than 1024; more than 4096 only slows
// every verifier down.
constexpr int kMinRsaBits = 1024;
constexpr int kMaxRsaBits = 4096;
constexpr int kDefaultRsaBits = 2048;

// A private key ready to sign with. Copies share the key, which is only read after loading,
// so one DkimKey may sign on many threads at once.
struct DkimKey {
  std::string domain;    // d=
  std::string selector;  // s=
  Algorithm alg = Algorithm::kRsaSha256;
  std::shared_ptr<evp_pkey_st> pkey;
};

// Loads a PEM private key (PKCS#8 or traditional RSA) and checks that it fits `alg` (type, and
// 1024-4096 bits for RSA) and that domain and selector are DNS names. Encrypted keys are
// refused rather than prompted for.
Result<DkimKey> load_key(const std::string& path, std::string domain, std::string selector,
                         Algorithm alg);
Result<DkimKey> parse_key(std::string_view pem, std::string domain, std::string selector,
                          Algorithm alg);

// A new private key as PKCS#8 PEM. `bits` applies to RSA only.
Result<std::string> generate_key_pem(Algorithm alg, int bits = kDefaultRsaBits);

// Writes a private key to a new file `path`, created with mode 0600 from the start (never
// readable by others, not even for a moment) and synced; refuses to replace an existing file.
Status write_private_key(const std::string& path, std::string_view pem);

// The key record for S._domainkey.D: "v=DKIM1; k=rsa; p=<SubjectPublicKeyInfo, base64>" or
// "v=DKIM1; k=ed25519; p=<the raw 32-octet public key, base64>".
std::string public_key_record(const DkimKey& key);

// The record in zone-file form, split into strings of at most 255 characters:
//   s1._domainkey.example.test. IN TXT ( "v=DKIM1; k=rsa; p=MIIB..." "..." )
std::string zone_txt_line(std::string_view owner, std::string_view record);

// The owner name of a key record: "<selector>._domainkey.<domain>".
std::string key_record_name(std::string_view selector, std::string_view domain);

// A DNS name of letters, digits, '-' and '_' labels (1-63 each, 253 in all, no trailing dot).
bool valid_dns_name(std::string_view name);

}  // namespace hato::dkim
