// admin_suppress.cc - GET and POST /v1/suppress, POST /v1/suppress/remove: the suppression list
// (policy/suppression.h) for `hato suppress` (admin_server.h).
#include <charconv>
#include <optional>
#include <string>

#include "cli/admin_impl.h"
#include "common/log.h"
#include "common/strings.h"
#include "policy/submission.h"
#include "policy/suppression.h"

namespace hato::cli {

namespace {

std::string entry_json(const policy::SuppressionEntry& e) {
  std::string out = "{\"address\":";
  log::append_json_string(out, e.address);
  out += ",\"domain\":";
  log::append_json_string(out, e.domain);
  out += ",\"reason\":";
  log::append_json_string(out, e.reason);
  out += ",\"source\":";
  log::append_json_string(out, e.source);
  out += ",\"first_seen\":";
  log::append_json_string(out, log::rfc3339(e.first_seen_ms));
  out += ",\"expires\":";
  if (e.expires_ms) {
    log::append_json_string(out, log::rfc3339(e.expires_ms));
  } else {
    out += "null";
  }
  out += "}\n";
  return out;
}

// A time in milliseconds since 1970, as the CLI sends it.
std::string read_ms(std::string_view key, std::string_view value, int64_t* ms) {
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), *ms);
  if (ec != std::errc() || end != value.data() + value.size() || *ms < 0)
    return std::string(key) + " must be a time in milliseconds: " + std::string(value);
  return "";
}

// A domain parameter: "" and "*" name the global scope.
std::string read_domain(std::string_view value, std::optional<std::string>* domain) {
  std::string d = ascii_lower(value);
  if (d == "*") d.clear();
  if (d.find('/') != std::string::npos) return "not a domain: " + std::string(value);
  *domain = std::move(d);
  return "";
}

}  // namespace

// GET lists (the whole list is small next to the queue: one line per dead address, read in
// one pass); POST adds.
void AdminServer::Impl::suppress_list(evhttp_request* req, const RouteArgs& args) {
  if (evhttp_request_get_command(req) == EVHTTP_REQ_POST) return suppress_add(req, args);
  std::optional<std::string> domain;
  bool read = read_query(req, args.query, [&](std::string_view key, std::string_view value) {
    return key == "domain" ? read_domain(value, &domain) : unknown_parameter(key);
  });
  if (!read) return;
  std::string body;
  Status s = suppression->list(domain, log::now_ms(), [&](const policy::SuppressionEntry& e) {
    body += entry_json(e);
    return true;
  });
  if (!s) return send_error(req, HTTP_INTERNAL, "Internal Server Error", s.message());
  send_json(req, HTTP_OK, "OK", body);
}

void AdminServer::Impl::suppress_add(evhttp_request* req, const RouteArgs& args) {
  policy::SuppressionEntry e;
  e.source = "manual";
  e.first_seen_ms = log::now_ms();
  std::optional<std::string> domain;
  bool read = read_query(req, args.query, [&](std::string_view key, std::string_view value) {
    if (key == "address") {
      std::string_view local, d;
      if (!policy::split_address(value, &local, &d)) return "not an address: " + std::string(value);
      e.address = ascii_lower(value);
      return std::string();
    }
    if (key == "domain") return read_domain(value, &domain);
    if (key == "reason") {
      e.reason = std::string(value);
      return std::string();
    }
    if (key == "source") {
      if (!policy::is_suppression_source(value))
        return "source must be bounce, complaint, manual or import: " + std::string(value);
      e.source = std::string(value);
      return std::string();
    }
    if (key == "first_seen") return read_ms(key, value, &e.first_seen_ms);
    if (key == "expires") return read_ms(key, value, &e.expires_ms);
    return unknown_parameter(key);
  });
  if (!read) return;
  if (e.address.empty())
    return send_error(req, HTTP_BADREQUEST, "Bad Request", "address is missing");
  if (e.reason.empty()) e.reason = e.source == "manual" ? "added by the operator" : e.source;
  e.domain = domain.value_or("");
  suppression->add(e);
  log::info("suppression added", {{"rcpt", e.address},
                                  {"domain", e.domain.empty() ? "*" : e.domain},
                                  {"reason", e.reason},
                                  {"source", e.source}});
  send_json(req, HTTP_OK, "OK", "{\"ok\":true}\n");
}

void AdminServer::Impl::suppress_remove(evhttp_request* req, const RouteArgs& args) {
  std::string address;
  std::optional<std::string> domain;
  bool read = read_query(req, args.query, [&](std::string_view key, std::string_view value) {
    if (key == "address") {
      address = ascii_lower(value);
      return std::string();
    }
    if (key == "domain") return read_domain(value, &domain);
    return unknown_parameter(key);
  });
  if (!read) return;
  if (address.empty()) return send_error(req, HTTP_BADREQUEST, "Bad Request", "address is missing");
  size_t removed = suppression->remove(address, domain);
  if (removed == 0)
    return send_error(req, HTTP_NOTFOUND, "Not Found", address + " is not suppressed");
  log::info("suppression removed", {{"rcpt", address}, {"entries", std::to_string(removed)}});
  send_json(req, HTTP_OK, "OK", "{\"ok\":true,\"removed\":" + std::to_string(removed) + "}\n");
}

}  // namespace hato::cli
