// tlsa.h - a TLSA record (RFC 6698), as DNS answers it and as DANE checks it.
#pragma once

#include <cstdint>
#include <string>

namespace hato::net {

struct TlsaRecord {
  uint8_t usage = 0;     // 2 DANE-TA, 3 DANE-EE (0 and 1 are unusable for SMTP, RFC 7672 3.1.3)
  uint8_t selector = 0;  // 0 full certificate, 1 SubjectPublicKeyInfo
  uint8_t mtype = 0;     // 0 exact, 1 SHA-256, 2 SHA-512
  std::string data;      // raw bytes

  bool operator==(const TlsaRecord&) const = default;
};

}  // namespace hato::net
