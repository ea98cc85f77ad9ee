// admin_blacklist.cc - GET /v1/blacklist and POST /v1/blacklist/check: the blacklist monitor's
// state, and a round of checks run now (admin_server.h).
#include <event2/http.h>

#include <memory>

#include "cli/admin_impl.h"
#include "common/log.h"

namespace hato::cli {

// POST /v1/blacklist/check: answers when the round of checks it started is over, with the
// state as GET /v1/blacklist gives it. A client that leaves early leaves the round running.
class AdminServer::Impl::BlacklistCheck : public Stream {
 public:
  using Stream::Stream;

 protected:
  void start() override {
    std::weak_ptr<int> alive = alive_;
    server_.blacklist_check([this, alive] {
      if (alive.expired()) return;  // the client went and took this stream with it
      Result<std::string> status = server_.blacklist_status();
      if (!status) return reply_and_end(HTTP_INTERNAL, "Internal Server Error", status.message());
      reply_and_end(HTTP_OK, "OK", *status);
    });
  }

 private:
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

namespace {

// blacklist_state - the monitor's state, or false after answering 409: not configured
bool blacklist_state(evhttp_request* req, const std::function<Result<std::string>()>& status,
                     bool can_check, std::string* state) {
  Result<std::string> answer = status ? status() : Result<std::string>::error("no monitor");
  if (!answer || !can_check) {
    send_error(req, kHttpConflict, "Conflict",
               "blacklist monitoring is not configured (blacklist_monitor in hato.yaml)");
    return false;
  }
  *state = std::move(answer).value();
  return true;
}

}  // namespace

void AdminServer::Impl::blacklist(evhttp_request* req, const RouteArgs&) {
  std::string state;
  if (!blacklist_state(req, blacklist_status, static_cast<bool>(blacklist_check), &state)) return;
  send_json(req, HTTP_OK, "OK", state);
}

void AdminServer::Impl::blacklist_check_now(evhttp_request* req, const RouteArgs&) {
  std::string state;
  if (!blacklist_state(req, blacklist_status, static_cast<bool>(blacklist_check), &state)) return;
  log::info("admin blacklist check");
  run(std::make_unique<BlacklistCheck>(*this, req));
}

}  // namespace hato::cli
