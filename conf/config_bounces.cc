// config_bounces.cc - what a failed delivery means (bounces.rules) and what it leads to
// (suppression, complaints).
#include <algorithm>
#include <iterator>

#include "common/strings.h"
#include "conf/config_builder.h"

namespace hato::conf {

bool is_bounce_category(std::string_view name) {
  return std::find(std::begin(kBounceCategories), std::end(kBounceCategories), name) !=
         std::end(kBounceCategories);
}

namespace detail {

namespace {

std::vector<std::string_view> category_names() {
  return {std::begin(kBounceCategories), std::end(kBounceCategories)};
}

// "5", "5.7", "5.7.", "4.2.2": digits and dots, starting with the class digit.
bool is_dsn_prefix(std::string_view text) {
  if (text.empty() || (text[0] != '2' && text[0] != '4' && text[0] != '5')) return false;
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return c == '.' || (c >= '0' && c <= '9'); });
}

}  // namespace

// read_bounces - {rules: [...]}.
void Builder::read_bounces(const Value& v) {
  MapReader m(reader_, v, keys::kBounces);
  if (!m.is_map()) return;
  if (auto* r = m.get("rules")) {
    if (auto items = reader_.items(*r)) {
      for (const auto& item : *items) read_bounce_rule(item);
    }
  }
}

// read_bounce_rule - {match, provider, dsn, category}: at least one of the first three, so
// that a rule cannot file every failure under one category by mistake. The expression is
// compiled here as policy::BounceRules will, so a bad one shows in `hato config check`.
void Builder::read_bounce_rule(const Value& v) {
  MapReader m(reader_, v, keys::kBounceRule);
  if (!m.is_map()) return;
  BounceRule rule;
  if (auto* r = m.get("match")) {
    if (auto text = read_reply_regex(*r)) rule.match = *text;
  }
  if (auto* p = m.get("provider")) {
    if (auto name = reader_.non_empty_string(*p)) rule.provider = ascii_lower(*name);
  }
  if (auto* d = m.get("dsn")) {
    if (auto text = reader_.non_empty_string(*d)) {
      if (is_dsn_prefix(*text)) {
        rule.dsn = *text;
      } else {
        reader_.error(*d, "'" + *text + "' is not an enhanced status code or a prefix of one");
      }
    }
  }
  if (auto* c = m.require("category")) {
    if (auto name = reader_.non_empty_string(*c)) {
      std::string lower = ascii_lower(*name);
      if (is_bounce_category(lower)) {
        rule.category = lower;
      } else {
        std::string message = "unknown bounce category '" + *name + "'";
        std::string suggestion = closest_match(lower, category_names());
        if (!suggestion.empty()) message += ", did you mean '" + suggestion + "'?";
        reader_.error(*c, message);
      }
    }
  }
  if (!m.get("match") && !m.get("provider") && !m.get("dsn"))
    reader_.error(v, "a bounce rule needs match, provider or dsn");
  config_.bounce_rules.push_back(std::move(rule));
}

// read_suppression - {on, scope, expire, at_submission}.
void Builder::read_suppression(const Value& v) {
  MapReader m(reader_, v, keys::kSuppression);
  if (!m.is_map()) return;
  Suppression& s = config_.suppression;
  if (auto* o = m.get("on")) {
    if (auto items = reader_.items(*o)) {
      s.on.clear();
      std::vector<std::string_view> known = category_names();
      known.push_back("complaint");
      for (const auto& item : *items) {
        auto name = reader_.non_empty_string(item);
        if (!name) continue;
        std::string lower = ascii_lower(*name);
        if (std::find(known.begin(), known.end(), lower) == known.end()) {
          std::string message = "unknown bounce category '" + *name + "'";
          std::string suggestion = closest_match(lower, known);
          if (!suggestion.empty()) message += ", did you mean '" + suggestion + "'?";
          reader_.error(item, message);
          continue;
        }
        s.on.push_back(std::move(lower));
      }
    }
  }
  if (auto* c = m.get("scope")) {
    if (auto global = reader_.choice<bool>(*c, {{"domain", false}, {"global", true}}))
      s.global = *global;
  }
  if (auto* e = m.get("expire")) {
    auto text = reader_.string(*e);
    if (text && (*text == "never" || *text == "0")) {
      s.expire = Duration(0);
    } else if (auto duration = reader_.duration(*e)) {
      s.expire = *duration;
    }
  }
  if (auto* a = m.get("at_submission")) {
    if (auto bounce = reader_.choice<bool>(*a, {{"reject", false}, {"bounce", true}}))
      s.bounce_at_submission = *bounce;
  }
}

// read_complaints - {address}: where feedback reports arrive.
void Builder::read_complaints(const Value& v) {
  MapReader m(reader_, v, keys::kComplaints);
  if (!m.is_map()) return;
  if (auto* a = m.get("address")) {
    if (auto address = read_sender(*a)) {
      if (address->empty() || address->front() == '@') {
        reader_.error(*a, "expected an address 'user@domain'");
      } else {
        std::string text = *address;
        size_t at = text.rfind('@');
        config_.complaints.address = text.substr(0, at + 1) + ascii_lower(text.substr(at + 1));
      }
    }
  }
}

// read_dmarc_reports - {rua, unknown_threshold}: where DMARC aggregate reports for our
// domains arrive (a local domain: they are read at local delivery).
void Builder::read_dmarc_reports(const Value& v) {
  MapReader m(reader_, v, keys::kDmarcReports);
  if (!m.is_map()) return;
  if (auto* a = m.get("rua")) {
    if (auto address = read_sender(*a)) {
      size_t at = address->rfind('@');
      std::string domain = at == std::string::npos ? "" : ascii_lower(address->substr(at + 1));
      bool local = std::any_of(config_.domains.begin(), config_.domains.end(),
                               [&](const Domain& d) { return iequals(d.name, domain); });
      if (address->empty() || address->front() == '@') {
        reader_.error(*a, "expected an address 'user@domain'");
      } else if (!local) {
        reader_.error(*a,
                      "'" + domain + "' is not one of domains: reports are read at local delivery");
      } else {
        config_.dmarc_reports.rua = address->substr(0, at + 1) + domain;
      }
    }
  }
  if (auto* t = m.get("unknown_threshold")) {
    if (auto n = reader_.number(*t, 1, 1000000000)) config_.dmarc_reports.unknown_threshold = *n;
  }
}

}  // namespace detail

}  // namespace hato::conf
