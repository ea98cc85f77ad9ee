// admin_client.h - a small blocking HTTP/1.0 client for the admin socket.
//
// For the CLI only: it blocks, which the daemon's loops must never do. HTTP/1.0
// makes the daemon close the connection after the answer, so a body is simply
// everything up to EOF, whether the daemon sent a Content-Length or streamed
// (no chunked encoding to undo).
#pragma once

#include <functional>
#include <string>
#include <string_view>

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

// POSTs an empty body to `path`; otherwise as admin_get().
Result<AdminResponse> admin_post(const std::string& socket_path, const std::string& path,
                                 bool* unreachable = nullptr);

// GETs `path` and, when the answer is 200, hands its body to `on_body` piece by
// piece as it arrives (the returned body stays empty); `on_body` returns false
// to stop reading. Any other status is returned with its body, as by admin_get().
// With `follow`, silence after the head is not an error: `queue tail` waits
// for events as long as it takes.
Result<AdminResponse> admin_stream(const std::string& socket_path, const std::string& path,
                                   const std::function<bool(std::string_view)>& on_body,
                                   bool follow, bool* unreachable = nullptr);

// A command's request to the daemon (GET, or POST with `post`): kExitOk with the 200 answer in
// *out, or the exit status with the reason on stderr (the daemon's {"error"}, or why it could
// not be asked): kExitUnreachable, kExitUsage for a 400, kExitFailed otherwise.
int admin_call(const std::string& socket_path, bool post, const std::string& path,
               AdminResponse* out);

}  // namespace hato::cli
