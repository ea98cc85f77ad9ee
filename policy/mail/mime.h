// mime.h - just enough MIME (RFC 2045, 2046) to read the reports that arrive by mail: an
// entity's header fields and body, a Content-Type parameter, the parts of a multipart body.
// Reports (TLS-RPT, ARF) are read with these; nothing here decodes or converts content.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hato::mail {

// Header fields of a MIME entity (unfolded, names lower case) and where its body starts.
struct Entity {
  std::vector<std::pair<std::string, std::string>> fields;
  std::string_view body;
  // The first field of that name (lower case), or "".
  std::string field(std::string_view name) const;
  // The media type of Content-Type, lower case, without parameters ("multipart/report").
  std::string media_type() const;
};

Entity split_entity(std::string_view text);

// A parameter of a Content-Type value (quoted or not); "" when absent.
std::string parameter(std::string_view value, std::string_view name);

// The body parts of a multipart entity, in order (empty when it has no boundary).
std::vector<std::string_view> multipart_parts(const Entity& entity);

}  // namespace hato::mail
