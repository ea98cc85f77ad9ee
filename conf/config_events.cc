// config_events.cc - events for the application: webhooks and the backlog kept for them.
#include <fstream>
#include <iterator>
#include <set>

#include "common/strings.h"
#include "conf/config_builder.h"

namespace hato::conf::detail {

namespace {

// The event types of INTERFACE.md ("Event JSON") a hook may ask for.
const std::set<std::string, std::less<>> kEventTypes = {
    "delivered", "deferred", "bounced",      "expired",   "received",   "held",          "released",
    "deleted",   "dsn_sent", "delay_notice", "complaint", "suppressed", "double_bounce", "frozen"};

constexpr uint64_t kMaxBatch = 10000;
constexpr uint64_t kMaxBacklog = 1'000'000'000;

}  // namespace

// read_events - {webhooks, backlog}.
void Builder::read_events(const Value& v) {
  MapReader m(reader_, v, keys::kEvents);
  if (!m.is_map()) return;
  if (auto* b = m.get("backlog")) {
    if (auto n = reader_.number(*b, 1, kMaxBacklog)) config_.events.backlog = *n;
  }
  if (auto* w = m.get("webhooks")) {
    if (auto items = reader_.items(*w)) {
      for (const auto& item : *items) read_webhook(item);
    }
  }
}

// read_webhook - {url, secret_file, types, users, domains, batch, timeout}.
void Builder::read_webhook(const Value& v) {
  MapReader m(reader_, v, keys::kWebhook);
  if (!m.is_map()) return;
  Webhook hook;
  if (auto* u = m.require("url")) {
    if (auto text = reader_.non_empty_string(*u)) {
      auto url = parse_url(*text);
      if (!url) {
        reader_.error(*u, url.message());
      } else if (!url->https) {
        // Events name people and their mail: never in clear.
        reader_.error(*u, "a webhook must be an https:// URL");
      } else {
        hook.url = *text;
        hook.target = *url;
      }
    }
  }
  if (auto* f = m.require("secret_file")) {
    if (auto path = existing_file(*f)) {
      std::ifstream in(*path, std::ios::binary);
      std::string secret((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
      if (!in.good() && !in.eof()) {
        reader_.error(*f, "cannot read " + *path);
      } else if (secret.size() < 16) {
        reader_.error(*f, "the secret in " + *path + " is shorter than 16 bytes");
      } else {
        hook.secret_file = *path;
        hook.secret = std::move(secret);
      }
    }
  }
  if (auto* t = m.get("types")) {
    if (auto items = reader_.items(*t)) {
      for (const auto& item : *items) {
        auto type = reader_.non_empty_string(item);
        if (!type) continue;
        if (!kEventTypes.count(*type)) {
          reader_.error(item, "unknown event type '" + *type + "'");
          continue;
        }
        hook.types.push_back(*type);
      }
    }
  }
  if (auto* u = m.get("users")) {
    if (auto items = reader_.items(*u)) {
      for (const auto& item : *items) {
        if (auto user = reader_.non_empty_string(item)) hook.users.push_back(*user);
      }
    }
  }
  if (auto* d = m.get("domains")) {
    if (auto items = reader_.items(*d)) {
      for (const auto& item : *items) {
        auto name = reader_.non_empty_string(item);
        if (!name) continue;
        std::string lower = ascii_lower(*name);
        if (!is_domain_name(lower)) {
          reader_.error(item, "'" + *name + "' is not a domain name");
          continue;
        }
        hook.domains.push_back(std::move(lower));
      }
    }
  }
  if (auto* b = m.get("batch")) {
    if (auto n = reader_.number(*b, 1, kMaxBatch)) hook.batch = static_cast<uint32_t>(*n);
  }
  if (auto* t = m.get("timeout")) {
    if (auto d = reader_.duration(*t)) hook.timeout = *d;
  }
  config_.events.webhooks.push_back(std::move(hook));
}

}  // namespace hato::conf::detail
