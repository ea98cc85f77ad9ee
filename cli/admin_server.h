// admin_server.h - the daemon's admin API: HTTP with JSON on a Unix socket.
//
// The CLI's queue verbs talk to this; so can curl --unix-socket. Endpoints:
//   GET /v1/queue?limit=N&domain=D&state=S  one JSON object per line, in ID order
//   GET /v1/queue/ID                        one message with its recipients
//   GET /v1/queue/ID/message                the raw message (message/rfc822)
//   GET /v1/queue/ID/headers                its header section, for `queue show`
// Errors are {"error":"..."} with 400, 404, 405 or 500. Access control is the
// socket file's mode (0660), as for Postfix's public/ and private/ sockets.
// No libevent header leaks out of here.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/loop.h"
#include "common/status.h"
#include "queue/store.h"

namespace hato::cli {

class AdminServer {
 public:
  // Serves on `loop`, reading `store`; both must outlive the server.
  AdminServer(hato::Loop& loop, queue::Store& store);
  // Stops serving and removes the socket file, if it is still ours.
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds `socket_path` (mode 0660) and serves on it. A stale socket file left
  // by a crash is replaced; one with a live daemon behind it is an error.
  [[nodiscard]] hato::Status listen(const std::string& socket_path);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The JSON of one message as `queue ls --json` prints it (INTERFACE.md), on one
// line without the newline. With recipients it is the `queue show --json` form.
std::string message_json(const queue::StoredMessage& message, bool with_recipients);

// "queued", "deferred", "held" and back; parse is false for anything else.
const char* message_state_name(queue::MessageState state);
bool parse_message_state(std::string_view text, queue::MessageState* state);
// "pending", "delivered", "bounced", "expired".
const char* rcpt_state_name(queue::RcptState state);

}  // namespace hato::cli
