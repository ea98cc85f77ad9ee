// dmarc_report_unpack.cc - the report's XML out of a message: the MIME part, base64, then a
// zip (its central directory, one entry stored or deflated) or gzip, inflated with zlib under
// kMaxReportBytes (dmarc_report.h).
#include <zlib.h>

#include <cstring>

#include "common/base64.h"
#include "common/strings.h"
#include "policy/dmarc_report.h"
#include "policy/mail/mime.h"

namespace hato::policy::dmarc_report {

namespace {

enum class Packing { kNone, kXml, kGzip, kZip };

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// By media type first, then by the file name (7.2.1.1), which senders of
// application/octet-stream rely on.
Packing packing_of(const mail::Entity& part) {
  std::string type = part.media_type();
  if (type == "application/zip" || type == "application/x-zip-compressed" ||
      type == "application/x-zip")
    return Packing::kZip;
  if (type == "application/gzip" || type == "application/x-gzip") return Packing::kGzip;
  if (type == "text/xml" || type == "application/xml") return Packing::kXml;
  std::string name = ascii_lower(mail::parameter(part.field("content-disposition"), "filename"));
  if (name.empty()) name = ascii_lower(mail::parameter(part.field("content-type"), "name"));
  if (ends_with(name, ".zip")) return Packing::kZip;
  if (ends_with(name, ".gz")) return Packing::kGzip;
  if (ends_with(name, ".xml")) return Packing::kXml;
  return Packing::kNone;
}

// The first report part, depth-first through multiparts (bounded nesting).
bool find_part(std::string_view text, int depth, mail::Entity* out, Packing* packing) {
  if (depth > 8) return false;
  mail::Entity e = mail::split_entity(text);
  if (e.media_type().starts_with("multipart/")) {
    for (std::string_view part : mail::multipart_parts(e)) {
      if (find_part(part, depth + 1, out, packing)) return true;
    }
    return false;
  }
  Packing p = packing_of(e);
  if (p == Packing::kNone) return false;
  *out = std::move(e);
  *packing = p;
  return true;
}

// Inflates `in` (window_bits as inflateInit2 takes them) and stops as soon as the output
// would pass kMaxReportBytes.
Result<std::string> inflate_capped(std::string_view in, int window_bits) {
  z_stream z{};
  if (inflateInit2(&z, window_bits) != Z_OK) return Status::error("zlib would not start");
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char buf[65536];
  int rc = Z_OK;
  bool too_large = false;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    size_t got = sizeof buf - z.avail_out;
    if (out.size() + got > kMaxReportBytes) {
      too_large = true;
      break;
    }
    out.append(buf, got);
    if (rc == Z_BUF_ERROR && z.avail_in == 0) break;
  }
  inflateEnd(&z);
  if (too_large)
    return Status::error("larger than " + std::to_string(kMaxReportBytes >> 20) +
                         " MiB unpacked (refused while inflating)");
  if (rc != Z_STREAM_END) return Status::error("compressed data is damaged or cut short");
  return out;
}

uint32_t le16(std::string_view s, size_t at) {
  return static_cast<uint8_t>(s[at]) | static_cast<uint8_t>(s[at + 1]) << 8;
}
uint32_t le32(std::string_view s, size_t at) {
  return le16(s, at) | le16(s, at + 2) << 16;
}

// The first entry of a zip archive, read through the central directory (local headers may
// leave the sizes to a data descriptor). Stored or deflated only; no zip64, no encryption.
Result<std::string> unzip_first(std::string_view zip) {
  constexpr size_t kEocd = 22;
  if (zip.size() < kEocd) return Status::error("not a zip archive");
  size_t eocd = std::string_view::npos;
  size_t lowest = zip.size() > kEocd + 65535 ? zip.size() - kEocd - 65535 : 0;
  for (size_t at = zip.size() - kEocd + 1; at-- > lowest;) {
    if (le32(zip, at) == 0x06054b50) {
      eocd = at;
      break;
    }
  }
  if (eocd == std::string_view::npos) return Status::error("not a zip archive (no directory)");
  size_t cd = le32(zip, eocd + 16);
  if (le16(zip, eocd + 10) == 0 || cd + 46 > zip.size() || le32(zip, cd) != 0x02014b50)
    return Status::error("zip directory damaged or empty");
  uint32_t flags = le16(zip, cd + 8), method = le16(zip, cd + 10);
  size_t csize = le32(zip, cd + 20), local = le32(zip, cd + 42);
  if (flags & 1) return Status::error("zip entry is encrypted");
  if (local + 30 > zip.size() || le32(zip, local) != 0x04034b50)
    return Status::error("zip entry header damaged");
  size_t data = local + 30 + le16(zip, local + 26) + le16(zip, local + 28);
  if (data > zip.size() || csize > zip.size() - data) return Status::error("zip entry cut short");
  std::string_view packed = zip.substr(data, csize);
  if (method == 0) {
    if (packed.size() > kMaxReportBytes) return Status::error("zip entry too large");
    return std::string(packed);
  }
  if (method != 8) return Status::error("zip method " + std::to_string(method) + " unsupported");
  return inflate_capped(packed, -15);  // raw deflate
}

Result<std::string> body_bytes(const mail::Entity& part) {
  if (ascii_lower(trim(part.field("content-transfer-encoding"))) != "base64")
    return std::string(part.body);
  std::string compact;
  compact.reserve(part.body.size());
  for (char c : part.body) {
    if (c != '\r' && c != '\n' && c != ' ' && c != '\t') compact += c;
  }
  auto decoded = base64_decode(compact);
  if (!decoded) return Status::error("report attachment is not valid base64");
  return std::move(*decoded);
}

}  // namespace

Result<std::string> find_report(std::string_view message) {
  mail::Entity part;
  Packing packing = Packing::kNone;
  if (!find_part(message, 0, &part, &packing))
    return Status::error("no zip, gzip or XML attachment");
  auto bytes = body_bytes(part);
  if (!bytes) return bytes.status();
  std::string xml;
  switch (packing) {
    case Packing::kZip: {
      auto r = unzip_first(*bytes);
      if (!r) return r.status();
      xml = std::move(*r);
      break;
    }
    case Packing::kGzip: {
      auto r = inflate_capped(*bytes, 15 + 16);
      if (!r) return r.status();
      xml = std::move(*r);
      break;
    }
    default:
      xml = std::move(*bytes);
  }
  if (xml.size() > kMaxReportBytes) return Status::error("XML larger than the limit");
  return xml;
}

}  // namespace hato::policy::dmarc_report
