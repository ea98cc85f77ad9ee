// admin_users.cc - the users' routes (admin_server.h): POST /v1/users/reload, the users file
// read again now (there only when the daemon set a reloader, Impl::has_users_reload); and the
// brake's (Impl::has_brake): GET /v1/users/frozen, POST /v1/users/NAME/thaw and
// /v1/users/NAME/baseline.
#include <event2/http.h>

#include <charconv>

#include "cli/admin_impl.h"
#include "common/log.h"
#include "common/strings.h"
#include "policy/user_brake.h"

namespace hato::cli {

void AdminServer::Impl::reload_users(evhttp_request* req, const RouteArgs&) {
  Result<std::string> answer = users_reload();
  if (!answer) return send_error(req, HTTP_INTERNAL, "Internal Server Error", answer.message());
  send_json(req, HTTP_OK, "OK", *answer);
}

void AdminServer::Impl::frozen_users(evhttp_request* req, const RouteArgs&) {
  std::string out;
  for (const auto& [user, freeze] : brake->frozen_users()) {
    out += "{\"user\":";
    log::append_json_string(out, user);
    out += ",\"since\":";
    log::append_json_string(out, log::rfc3339(freeze.since_ms));
    out += ",\"reason\":";
    log::append_json_string(out, freeze.reason);
    out += "}\n";
  }
  send_json(req, HTTP_OK, "OK", out);
}

// thaw_user - the freeze goes, then the user's held mail is released by a walk over the queue
// in slices (release_held_of), so that a large queue does not stall the loop.
void AdminServer::Impl::thaw_user(evhttp_request* req, const RouteArgs& args) {
  std::string user = percent_decode(args.id).value_or(std::string(args.id));
  if (!brake->thaw(user, log::now_ms()))
    return send_error(req, kHttpConflict, "Conflict", "user " + user + " is not frozen");
  release_held_of(req, std::move(user));
}

void AdminServer::Impl::user_baseline(evhttp_request* req, const RouteArgs& args) {
  double means[2] = {-1, -1};
  bool ok = read_query(req, args.query, [&](std::string_view key, std::string_view value) {
    int which = key == "messages" ? 0 : key == "recipients" ? 1 : -1;
    if (which < 0) return unknown_parameter(key);
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), means[which]);
    if (ec != std::errc() || end != value.data() + value.size() || means[which] < 0)
      return std::string(key) + " must be a number of messages an hour: " + std::string(value);
    return std::string();
  });
  if (!ok) return;
  if (means[0] < 0 || means[1] < 0)
    return send_error(req, HTTP_BADREQUEST, "Bad Request", "give messages and recipients");
  std::string user = percent_decode(args.id).value_or(std::string(args.id));
  brake->set_baseline(user, means[0], means[1], log::now_ms());
  log::info("user baseline set", {{"user", user},
                                  {"messages", std::to_string(means[0])},
                                  {"recipients", std::to_string(means[1])}});
  send_json(req, HTTP_OK, "OK", "{\"ok\":true}\n");
}

}  // namespace hato::cli
