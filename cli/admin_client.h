// admin_client.h - a small blocking HTTP/1.0 client for the admin socket.
//
// For the CLI only: it blocks, which the daemon's loops must never do. HTTP/1.0
// makes the daemon close the connection after the answer, so a body is simply
// everything up to EOF, whether the daemon sent a Content-Length or streamed.
#pragma once

#include <string>

#include "common/status.h"

namespace hato::cli {

struct AdminResponse {
  int status = 0;            // HTTP status code
  std::string content_type;  // without parameters, lower case; empty if not sent
  std::string body;
};

// GETs `path` (with its query string) from the daemon on `socket_path`. Gives
// up after 10 seconds without progress. On failure, *unreachable (if given)
// says whether no daemon answered at all: no socket file, nobody listening, or
// silence; the CLI exits 3 then. The error messages read well after "hato: ".
Result<AdminResponse> admin_get(const std::string& socket_path, const std::string& path,
                                bool* unreachable = nullptr);

}  // namespace hato::cli
