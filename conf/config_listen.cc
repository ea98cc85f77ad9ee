// config_listen.cc - how hato takes connections: listeners, the TLS certificate (files or
// ACME), MTA-STS policy hosting and the limits of an SMTP session.
#include <charconv>
#include <chrono>
#include <cstdio>

#include "conf/config_builder.h"

namespace hato::conf::detail {

// read_tls_pairs - tls.additional: more {certificate, key} pairs, both files required.
void Builder::read_tls_pairs(const Value& v) {
  auto items = reader_.items(v);
  if (!items) return;
  for (const auto& item : *items) {
    MapReader m(reader_, item, keys::kTlsPair);
    if (!m.is_map()) continue;
    const Value* certificate = m.require("certificate");
    const Value* key = m.require("key");
    if (!certificate || !key) continue;
    auto c = existing_file(*certificate);
    auto k = existing_file(*key);
    if (c && k) config_.tls.additional.push_back({*c, *k});
  }
}

// read_tls - the certificate and key, which only make sense as a pair, or `acme`; more
// pairs of other key types beside them.
void Builder::read_tls(const Value& v) {
  MapReader m(reader_, v, keys::kTls);
  if (!m.is_map()) return;
  if (auto* a = m.get("additional")) {
    read_tls_pairs(*a);
    if (!m.get("certificate") && !m.get("acme"))
      reader_.error(*a, "additional certificates need tls.certificate or tls.acme");
  }
  if (auto* a = m.get("acme")) {
    // With acme, certificate and key (default <data_dir>/acme/) are where Hato writes the
    // pair it obtains: they need not exist yet.
    read_acme(*a);
    if (auto* c = m.get("certificate"))
      config_.tls.certificate = reader_.non_empty_string(*c).value_or("");
    if (auto* k = m.get("key")) config_.tls.key = reader_.non_empty_string(*k).value_or("");
    if ((m.get("certificate") == nullptr) != (m.get("key") == nullptr))
      reader_.error(v, "certificate and key must be given together");
    return;
  }
  const Value* certificate = m.get("certificate");
  const Value* key = m.get("key");
  if (certificate) {
    if (auto path = existing_file(*certificate)) config_.tls.certificate = *path;
  }
  if (key) {
    if (auto path = existing_file(*key)) config_.tls.key = *path;
  }
  if ((certificate == nullptr) != (key == nullptr))
    reader_.error(v, "certificate and key must be given together");
}

void Builder::read_acme(const Value& v) {
  MapReader m(reader_, v, keys::kAcme);
  if (!m.is_map()) return;
  Acme acme;
  if (auto* d = m.get("directory")) {
    if (auto text = reader_.non_empty_string(*d)) {
      if (auto url = parse_url(*text); url && url->https) {
        acme.directory = *text;
      } else {
        reader_.error(*d, "must be an https:// URL");
      }
    }
  }
  if (auto* e = m.get("email")) {
    if (auto text = reader_.non_empty_string(*e)) acme.email = *text;
  }
  if (auto* h = m.get("http")) acme.http = reader_.address(*h, 80);
  if (auto* d = m.get("domains")) {
    if (auto items = reader_.items(*d)) {
      for (const auto& item : *items) {
        auto name = reader_.non_empty_string(item);
        if (!name) continue;
        if (is_domain_name(*name)) {
          acme.domains.push_back(*name);
        } else {
          reader_.error(item, "'" + *name + "' is not a valid host name");
        }
      }
    }
  }
  if (auto* c = m.get("ca_file")) {
    if (auto path = existing_file(*c)) acme.ca_file = *path;
  }
  if (auto* r = m.get("renew_before")) {
    if (auto d = reader_.duration(*r)) acme.renew_before = *d;
  }
  config_.tls.acme = std::move(acme);
}

void Builder::read_mta_sts(const Value& v) {
  MapReader m(reader_, v, keys::kMtaSts);
  if (!m.is_map()) return;
  MtaStsHosting& h = config_.mta_sts;
  if (auto* l = m.get("listen")) h.listen = reader_.address(*l, 443);
  if (auto* mode = m.get("mode")) {
    auto word = reader_.choice<std::string>(
        *mode, {{"testing", "testing"}, {"enforce", "enforce"}, {"none", "none"}});
    if (word) h.mode = *word;
  }
  if (auto* a = m.get("max_age")) {
    // RFC 8461 3.2: at most a year.
    if (auto d = reader_.duration(*a)) {
      auto seconds = std::chrono::duration_cast<std::chrono::seconds>(*d).count();
      if (seconds > 31557600) {
        reader_.error(*a, "must be at most a year (RFC 8461)");
      } else {
        h.max_age = seconds;
      }
    }
  }
  if (auto* x = m.get("mx")) {
    if (auto items = reader_.items(*x)) {
      for (const auto& item : *items) {
        if (auto name = reader_.non_empty_string(item)) h.mx.push_back(*name);
      }
    }
  }
}

void Builder::read_listeners(const Value& v) {
  auto items = reader_.items(v);
  if (!items) return;
  if (items->empty()) reader_.error(v, "at least one listener is required");
  for (const auto& item : *items) read_listener(item);
}

void Builder::read_listener(const Value& v) {
  MapReader m(reader_, v, keys::kListener);
  if (!m.is_map()) return;
  Listener listener;
  if (auto* n = m.require("name")) {
    if (auto name = reader_.non_empty_string(*n)) {
      listener.name = *name;
      check_unique(listener_names_, *name, *n, "listener name");
    }
  }
  if (auto* a = m.require("address")) {
    if (auto address = reader_.address(*a)) listener.address = *address;
  }
  if (auto* r = m.require("role")) {
    auto role = reader_.choice<ListenerRole>(*r, {{"submission", ListenerRole::kSubmission},
                                                  {"inbound", ListenerRole::kInbound},
                                                  {"http", ListenerRole::kHttp}});
    if (role) listener.role = *role;
  }
  if (auto* t = m.get("tls")) {
    auto tls = reader_.choice<ListenerTls>(*t, {{"starttls", ListenerTls::kStartTls},
                                                {"implicit", ListenerTls::kImplicit},
                                                {"none", ListenerTls::kNone}});
    if (tls) listener.tls = *tls;
    if (tls && listener.role == ListenerRole::kHttp && *tls != ListenerTls::kImplicit)
      reader_.error(*t, "an http listener always speaks TLS: leave tls out or say implicit");
  }
  if (listener.role == ListenerRole::kHttp) listener.tls = ListenerTls::kImplicit;
  if (auto* t = m.get("trusted_networks")) {
    if (auto networks = reader_.items(*t)) {
      for (const auto& network : *networks) {
        if (auto cidr = reader_.cidr(network)) listener.trusted_networks.push_back(*cidr);
      }
    }
  }
  if (auto* b = m.get("bare_lf")) {
    auto mode = reader_.choice<BareLf>(
        *b, {{"normalize", BareLf::kNormalize}, {"reject", BareLf::kReject}});
    if (mode) listener.bare_lf = *mode;
  }
  if (auto* b = m.get("nul")) {
    auto mode = reader_.choice<Nul>(*b, {{"reject", Nul::kReject}, {"allow", Nul::kAllow}});
    if (mode) listener.nul = *mode;
  }
  config_.listeners.push_back(std::move(listener));
}

void Builder::read_limits(const Value& v) {
  MapReader m(reader_, v, keys::kLimits);
  Limits& limits = config_.limits;
  if (auto* u = m.get("users")) read_user_quotas(*u);
  if (auto* b = m.get("brake")) read_brake(*b);
  if (auto* s = m.get("max_message_size")) {
    if (auto size = reader_.size(*s)) limits.max_message_size = *size;
  }
  const std::pair<std::string_view, uint32_t*> counts[] = {
      {"max_recipients", &limits.max_recipients},
      {"max_errors", &limits.max_errors},
      {"max_connections", &limits.max_connections},
      {"max_junk_commands", &limits.max_junk_commands}};
  for (const auto& [key, field] : counts) {
    if (auto* n = m.get(key)) {
      if (auto count = reader_.number(*n, 1, kMaxU32)) *field = static_cast<uint32_t>(*count);
    }
  }
  const std::pair<std::string_view, Duration*> timeouts[] = {
      {"command_timeout", &limits.command_timeout},
      {"data_timeout", &limits.data_timeout},
      {"max_session_time", &limits.max_session_time}};
  for (const auto& [key, field] : timeouts) {
    if (auto* d = m.get(key)) {
      if (auto duration = reader_.duration(*d)) *field = *duration;
    }
  }
}

// limits.users: {NAME: {messages: 500/h, recipients: [100/m, 2000/d]}, default: {...}}.
void Builder::read_user_quotas(const Value& v) {
  auto entries = reader_.entries(v);
  if (!entries) return;
  for (const auto& entry : *entries) {
    MapReader m(reader_, entry.value, keys::kUserQuotas);
    UserQuotas quotas;
    if (auto* q = m.get("messages")) quotas.messages = read_quotas(*q);
    if (auto* q = m.get("recipients")) quotas.recipients = read_quotas(*q);
    config_.limits.users[entry.key] = std::move(quotas);
  }
}

// limits.brake: on | off, or {enabled, factor, floor, bounce_rate, min_bounces,
// complaint_rate, min_complaints, action: hold|refuse}. Writing the section turns the brake
// on (unless it says enabled: false); without it the brake is off.
void Builder::read_brake(const Value& v) {
  Brake& brake = config_.limits.brake;
  if (v.node.IsScalar()) {
    auto on =
        reader_.choice<bool>(v, {{"on", true}, {"true", true}, {"off", false}, {"false", false}});
    if (on) brake.enabled = *on;
    return;
  }
  MapReader m(reader_, v, keys::kBrake);
  if (!m.is_map()) return;
  brake.enabled = true;
  if (auto* e = m.get("enabled")) {
    if (auto on = reader_.choice<bool>(*e, {{"true", true}, {"false", false}})) brake.enabled = *on;
  }
  if (auto* f = m.get("factor")) {
    if (auto factor = read_decimal(*f, 1, 1e6)) brake.factor = *factor;
  }
  if (auto* f = m.get("floor")) read_brake_floor(*f);
  if (auto* r = m.get("bounce_rate")) {
    if (auto rate = read_decimal(*r, 0, 1)) brake.bounce_rate = *rate;
  }
  if (auto* n = m.get("min_bounces")) {
    if (auto count = reader_.number(*n, 1, kMaxU32)) brake.min_bounces = *count;
  }
  if (auto* r = m.get("complaint_rate")) {
    if (auto rate = read_decimal(*r, 0, 1)) brake.complaint_rate = *rate;
  }
  if (auto* n = m.get("min_complaints")) {
    if (auto count = reader_.number(*n, 1, kMaxU32)) brake.min_complaints = *count;
  }
  if (auto* a = m.get("action")) {
    auto action = reader_.choice<BrakeAction>(
        *a, {{"hold", BrakeAction::kHold}, {"refuse", BrakeAction::kRefuse}});
    if (action) brake.action = *action;
  }
}

// read_brake_floor - messages an hour: "200" or "200/h" (INTERFACE.md writes it as a rate).
void Builder::read_brake_floor(const Value& v) {
  auto text = reader_.string(v);
  if (!text) return;
  if (text->find('/') == std::string::npos) {
    if (auto floor = reader_.number(v, 1, kMaxU32)) config_.limits.brake.floor = *floor;
    return;
  }
  auto quota = parse_quota(*text);
  if (!quota || quota->window != std::chrono::hours(1)) {
    reader_.error(
        v, "limits.brake.floor is messages an hour, such as 200 or 200/h, not '" + *text + "'");
    return;
  }
  config_.limits.brake.floor = quota->count;
}

// read_decimal - a plain number from `min` to `max` ("10", "0.2").
std::optional<double> Builder::read_decimal(const Value& v, double min, double max) {
  auto text = reader_.string(v);
  if (!text) return std::nullopt;
  double value = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec == std::errc() && end == text->data() + text->size() && value >= min && value <= max)
    return value;
  auto shown = [](double d) {
    char out[32];
    std::snprintf(out, sizeof out, "%g", d);
    return std::string(out);
  };
  reader_.error(v, "'" + *text + "' is not a number from " + shown(min) + " to " + shown(max));
  return std::nullopt;
}

// One quota ("500/h") or a list of them; each per minute, hour or day.
std::optional<std::vector<Quota>> Builder::read_quotas(const Value& v) {
  std::vector<Value> values;
  if (v.node.IsSequence()) {
    auto items = reader_.items(v);
    if (!items) return std::nullopt;
    values = std::move(*items);
  } else {
    values.push_back(v);
  }
  std::vector<Quota> out;
  for (const Value& item : values) {
    auto text = reader_.string(item);
    if (!text) return std::nullopt;
    auto quota = parse_quota(*text);
    if (!quota) {
      reader_.error(item, quota.status().message());
      return std::nullopt;
    }
    auto window = quota->window;
    if (window != std::chrono::minutes(1) && window != std::chrono::hours(1) &&
        window != std::chrono::hours(24)) {
      reader_.error(item,
                    "a user's limit counts per minute, hour or day (such as 100/m, "
                    "500/h or 2000/d), not '" +
                        *text + "'");
      return std::nullopt;
    }
    out.push_back(*quota);
  }
  return out;
}

}  // namespace hato::conf::detail
