// key.cc - loading, generating and publishing DKIM keys with OpenSSL 3's EVP_PKEY API.
#include "policy/dkim/key.h"

#include <fcntl.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/base64.h"
#include "policy/dkim/ossl.h"

namespace hato::dkim {

namespace {

// Refuses to decrypt: a daemon must never stop and ask for a passphrase on a terminal.
int no_passphrase(char*, int, int, void*) {
  return -1;
}

std::shared_ptr<evp_pkey_st> share(ossl::Pkey key) {
  return std::shared_ptr<evp_pkey_st>(key.release(), ossl::Free<EVP_PKEY_free>());
}

}  // namespace

std::string_view algorithm_name(Algorithm alg) {
  return alg == Algorithm::kRsaSha256 ? "rsa-sha256" : "ed25519-sha256";
}

std::optional<Algorithm> parse_algorithm(std::string_view name) {
  if (name == "rsa-sha256") return Algorithm::kRsaSha256;
  if (name == "ed25519-sha256") return Algorithm::kEd25519Sha256;
  return std::nullopt;
}

bool valid_dns_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  size_t label = 0;
  for (char c : name) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_') {
      if (++label > 63) return false;
    } else {
      return false;
    }
  }
  return label > 0;
}

Result<DkimKey> parse_key(std::string_view pem, std::string domain, std::string selector,
                          Algorithm alg) {
  if (!valid_dns_name(domain)) return Result<DkimKey>::error("bad DKIM domain '" + domain + "'");
  if (!valid_dns_name(selector)) {
    return Result<DkimKey>::error("bad DKIM selector '" + selector + "'");
  }
  ossl::Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return Result<DkimKey>::error(ossl::last_error());
  ossl::Pkey pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  if (!pkey) {
    return Result<DkimKey>::error("not an unencrypted PEM private key (" + ossl::last_error() +
                                  ")");
  }
  int type = EVP_PKEY_get_base_id(pkey.get());
  if (alg == Algorithm::kRsaSha256) {
    if (type != EVP_PKEY_RSA) return Result<DkimKey>::error("rsa-sha256 needs an RSA key");
    int bits = EVP_PKEY_get_bits(pkey.get());
    if (bits < kMinRsaBits || bits > kMaxRsaBits) {
      return Result<DkimKey>::error("RSA key of " + std::to_string(bits) +
                                    " bits; DKIM keys must have 1024 to 4096");
    }
  } else if (type != EVP_PKEY_ED25519) {
    return Result<DkimKey>::error("ed25519-sha256 needs an Ed25519 key");
  }
  return DkimKey{std::move(domain), std::move(selector), alg, share(std::move(pkey))};
}

Result<DkimKey> load_key(const std::string& path, std::string domain, std::string selector,
                         Algorithm alg) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Result<DkimKey>::error(path + ": cannot read the DKIM key");
  std::ostringstream text;
  text << in.rdbuf();
  auto key = parse_key(text.str(), std::move(domain), std::move(selector), alg);
  if (!key) return Result<DkimKey>::error(path + ": " + key.message());
  return key;
}

Result<std::string> generate_key_pem(Algorithm alg, int bits) {
  ossl::Pkey pkey;
  if (alg == Algorithm::kRsaSha256) {
    if (bits < kMinRsaBits || bits > kMaxRsaBits) {
      return Result<std::string>::error("RSA keys must have 1024 to 4096 bits");
    }
    pkey.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits)));
  } else {
    pkey.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  }
  if (!pkey) return Result<std::string>::error("key generation: " + ossl::last_error());
  ossl::Bio bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), pkey.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return Result<std::string>::error("writing the key: " + ossl::last_error());
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

Status write_private_key(const std::string& path, std::string_view pem) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return Status::error(path + " exists; not overwriting it");
    return Status::error(path + ": " + std::strerror(errno));
  }
  int err = ::fchmod(fd, 0600) == 0 ? 0 : errno;  // the umask may only take bits away
  for (size_t done = 0; err == 0 && done < pem.size();) {
    ssize_t n = ::write(fd, pem.data() + done, pem.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) err = errno;
    if (n == 0) err = EIO;
    if (n > 0) done += static_cast<size_t>(n);
  }
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) {
    ::unlink(path.c_str());
    return Status::error(path + ": " + std::strerror(err));
  }
  return Status::ok();
}

std::string public_key_record(const DkimKey& key) {
  std::string der;
  if (key.alg == Algorithm::kEd25519Sha256) {
    unsigned char raw[32];
    size_t len = sizeof(raw);
    if (EVP_PKEY_get_raw_public_key(key.pkey.get(), raw, &len) == 1) {
      der.assign(reinterpret_cast<char*>(raw), len);
    }
    return "v=DKIM1; k=ed25519; p=" + base64_encode(der);
  }
  unsigned char* buf = nullptr;
  int len = i2d_PUBKEY(key.pkey.get(), &buf);
  if (len > 0) der.assign(reinterpret_cast<char*>(buf), static_cast<size_t>(len));
  OPENSSL_free(buf);
  return "v=DKIM1; k=rsa; p=" + base64_encode(der);
}

std::string zone_txt_line(std::string_view owner, std::string_view record) {
  std::string out(owner);
  if (out.empty() || out.back() != '.') out += '.';
  out += " IN TXT (";
  // A TXT character-string holds at most 255 octets; verifiers join the strings back.
  for (size_t i = 0; i < record.size(); i += 255) {
    out += " \"";
    out += record.substr(i, 255);
    out += '"';
  }
  out += " )";
  return out;
}

std::string key_record_name(std::string_view selector, std::string_view domain) {
  std::string name(selector);
  name += "._domainkey.";
  name += domain;
  return name;
}

}  // namespace hato::dkim
