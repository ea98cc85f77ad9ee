// config_domains.cc - the domains hato receives for (DKIM keys, mailboxes, aliases) and the
// addresses each submission user may send as.
#include "conf/config_builder.h"

#include <algorithm>

#include "common/strings.h"

namespace hato::conf::detail {

void Builder::read_domains(const Value& v) {
  auto items = reader_.items(v);
  if (!items) return;
  for (const auto& item : *items) read_domain(item);
}

void Builder::read_domain(const Value& v) {
  MapReader m(reader_, v, keys::kDomain);
  if (!m.is_map()) return;
  Domain domain;
  if (auto* l = m.get("lmtp")) {
    if (auto text = reader_.non_empty_string(*l)) {
      auto address = SocketAddress::parse_endpoint(*text, 24);
      if (address) {
        domain.lmtp = *address;
      } else {
        reader_.error(*l, address.message());
      }
    }
  }
  if (auto* n = m.require("name")) {
    if (auto name = reader_.non_empty_string(*n)) {
      if (is_domain_name(*name)) {
        domain.name = ascii_lower(*name);
        check_unique(domain_names_, domain.name, *n, "domain");
      } else {
        reader_.error(*n, "'" + *name + "' is not a valid domain name");
      }
    }
  }
  if (auto* d = m.get("dkim")) read_dkim(*d, &domain);
  // Mailboxes first whatever the order in the file: aliases are checked against them.
  if (auto* b = m.get("mailboxes")) read_mailboxes(*b, &domain);
  if (auto* a = m.get("aliases")) read_aliases(*a, &domain);
  config_.domains.push_back(std::move(domain));
}

void Builder::read_dkim(const Value& v, Domain* domain) {
  auto items = reader_.items(v);
  if (!items) return;
  std::map<std::string, Position> selectors;
  for (const auto& item : *items) {
    MapReader m(reader_, item, keys::kDkimKey);
    if (!m.is_map()) continue;
    DkimKey key;
    if (auto* s = m.require("selector")) {
      if (auto selector = reader_.non_empty_string(*s)) {
        // A selector is a DNS name below _domainkey (RFC 6376 section 3.1).
        if (is_domain_name(*selector)) {
          key.selector = *selector;
          check_unique(selectors, ascii_lower(*selector), *s, "selector");
        } else {
          reader_.error(*s, "'" + *selector + "' is not a valid selector");
        }
      }
    }
    if (auto* a = m.get("algorithm")) {
      auto algorithm = reader_.choice<std::string>(
          *a, {{"rsa-sha256", "rsa-sha256"}, {"ed25519-sha256", "ed25519-sha256"}});
      if (algorithm) key.algorithm = *algorithm;
    }
    if (auto* k = m.require("key")) {
      if (auto path = existing_file(*k)) key.key_file = *path;
    }
    domain->dkim.push_back(std::move(key));
  }
}

void Builder::read_mailboxes(const Value& v, Domain* domain) {
  auto items = reader_.items(v);
  if (!items) return;
  std::map<std::string, Position> seen;
  for (const auto& item : *items) {
    auto text = reader_.non_empty_string(item);
    if (!text) continue;
    std::string mailbox = ascii_lower(*text);
    if (!is_local_part(mailbox)) {
      reader_.error(item, "'" + *text + "' is not a valid mailbox name");
      continue;
    }
    check_unique(seen, mailbox, item, "mailbox");
    domain->mailboxes.push_back(std::move(mailbox));
  }
}

// read_aliases - local part -> mailbox of the same domain; an alias may not shadow a
// mailbox, or mail for one name would go to two places.
void Builder::read_aliases(const Value& v, Domain* domain) {
  auto entries = reader_.entries(v);
  if (!entries) return;
  const std::string& mailboxes_of = domain->name.empty() ? "this domain" : domain->name;
  auto is_mailbox = [&](const std::string& name) {
    return std::find(domain->mailboxes.begin(), domain->mailboxes.end(), name) !=
           domain->mailboxes.end();
  };
  std::map<std::string, Position> seen;
  for (const auto& entry : *entries) {
    std::string alias = ascii_lower(entry.key);
    if (!is_local_part(alias)) {
      reader_.error_at(entry.key_at, v.path, "'" + entry.key + "' is not a valid alias name");
      continue;
    }
    if (is_mailbox(alias)) {
      reader_.error_at(entry.key_at, v.path, "'" + alias + "' is both a mailbox and an alias");
      continue;
    }
    auto [first, inserted] = seen.emplace(alias, entry.key_at);
    if (!inserted) {
      reader_.error_at(entry.key_at, v.path,
                       "duplicate alias '" + alias + "' (first at line " +
                           std::to_string(first->second.line) + ")");
      continue;
    }
    auto target = reader_.non_empty_string(entry.value);
    if (!target) continue;
    std::string mailbox = ascii_lower(*target);
    if (!is_mailbox(mailbox)) {
      reader_.error(entry.value, "'" + *target + "' is not a mailbox of " + mailboxes_of);
      continue;
    }
    domain->aliases[alias] = mailbox;
  }
}

void Builder::read_allowed_senders(const Value& v) {
  auto entries = reader_.entries(v);
  if (!entries) return;
  for (const auto& entry : *entries) {
    if (entry.key.empty()) {
      reader_.error_at(entry.key_at, v.path, "user name must not be empty");
      continue;
    }
    auto items = reader_.items(entry.value);
    if (!items) continue;
    std::vector<std::string>& senders = config_.allowed_senders[entry.key];
    for (const auto& item : *items) {
      if (auto sender = read_sender(item)) senders.push_back(std::move(*sender));
    }
  }
}

// read_sender - "user@domain" or "@domain", lower-cased as mailboxes are.
std::optional<std::string> Builder::read_sender(const Value& v) {
  auto text = reader_.non_empty_string(v);
  if (!text) return std::nullopt;
  std::string sender = ascii_lower(*text);
  size_t at = sender.rfind('@');
  bool valid = at != std::string::npos && is_domain_name(sender.substr(at + 1)) &&
               (at == 0 || is_local_part(sender.substr(0, at)));
  if (!valid) {
    reader_.error(v, "expected 'user@domain' or '@domain', got '" + *text + "'");
    return std::nullopt;
  }
  return sender;
}

}  // namespace hato::conf::detail
