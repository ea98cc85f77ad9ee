// http_api.h - the HTTP API (issue 22): `POST /v1/messages` on the listeners of role http, for
// applications that send over HTTPS rather than SMTP.
//
// Always TLS (the SMTP listeners' certificate), HTTP/1.1 with keep-alive (net::HttpServer).
// A request authenticates with `Authorization: Bearer <API key>` (policy/api_keys.h; the keys
// file is re-read when it changes), and is then exactly an SMTP submission by that user: the
// same Transaction (relay/transaction.h) runs the same hooks (sender rules, per-user limits,
// suppression, header syntax), the Enqueuer signs it, and the answer, 202 with the queue ID,
// comes only once the commit is durable, as SMTP's 250. Errors are JSON {"code", "message",
// "field"?}: 400 (the field named), 401, 404, 405, 409 (the same Idempotency-Key still being
// decided), 413, 415, 422 (a refused sender, recipient or message, with the SMTP reply), 429
// with Retry-After (a user's limit), 503 with Retry-After (a full disk, a queue write that
// failed, any other passing refusal). One recipient refused refuses the request: a program
// gets one clear answer, never a message sent to some of its recipients.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/file_watch.h"
#include "common/loop.h"
#include "common/status.h"
#include "conf/config.h"
#include "net/http_server.h"
#include "net/tls.h"
#include "policy/api_keys.h"
#include "policy/hook.h"
#include "queue/store.h"
#include "relay/idempotency.h"
#include "relay/transaction.h"

namespace hato::relay {

class HttpApi {
 public:
  HttpApi(Loop& loop, conf::ConfigPtr config, Committer& committer, const policy::HookChain& hooks,
          queue::Store& store);
  ~HttpApi();
  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;

  // Binds every listener of role http and logs the address each got; an error when there is
  // one and no certificate.
  [[nodiscard]] Status listen(std::shared_ptr<net::TlsContext> tls);
  // A renewed certificate for the next connections.
  void set_tls(std::shared_ptr<net::TlsContext> tls) { tls_ = std::move(tls); }
  void set_config(conf::ConfigPtr config) { config_ = std::move(config); }
  // Submissions accepted and not yet answered (a stop waits for them).
  size_t in_flight() const { return *in_flight_; }

  class Submission;  // one POST being decided

 private:
  void handle(const std::string& listener, net::HttpServerRequest& request,
              net::HttpResponder respond);
  Status reload_keys();
  void sweep();

  Loop& loop_;
  conf::ConfigPtr config_;
  Committer& committer_;
  const policy::HookChain& hooks_;
  IdempotencyKeys idempotency_;
  std::shared_ptr<net::TlsContext> tls_;
  std::shared_ptr<const policy::ApiKeyDb> keys_;
  std::optional<FileWatch> keys_watch_;
  std::vector<std::unique_ptr<net::HttpServer>> servers_;
  std::optional<Timer> sweeper_;
  // Lives as long as the API; submissions still deciding when it goes hold it and do nothing.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::shared_ptr<size_t> in_flight_ = std::make_shared<size_t>(0);
};

}  // namespace hato::relay
