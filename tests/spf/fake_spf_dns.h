// fake_spf_dns.h - an SpfDns answering from a table, for unit tests.
//
// Like the real resolver it never answers inside the call: answers queue up until pump(), so
// tests see the same order of events as the daemon, and can count the queries asked.
#pragma once

#include <algorithm>
#include <cctype>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "policy/spf/spf.h"

namespace hato::policy::spf::testing {

class FakeSpfDns : public SpfDns {
 public:
  void add_txt(const std::string& name, const std::string& text) { node(name).txt.push_back(text); }
  void add_a(const std::string& name, const std::string& ip) { node(name).a.push_back(ip); }
  void add_aaaa(const std::string& name, const std::string& ip) { node(name).aaaa.push_back(ip); }
  void add_mx(const std::string& name, uint16_t preference, const std::string& host) {
    node(name).mx.push_back({preference, host});
  }
  void add_ptr(const std::string& ip, const std::string& name) {
    node(ptr_key(ip)).ptr.push_back(name);
  }
  // Lookups of types the name has no records of time out.
  void set_timeout(const std::string& name) { node(name).timeout = true; }

  void txt(const std::string& name, std::function<void(net::TxtResult)> done) override {
    log.push_back("TXT " + key(name));
    net::TxtResult r;
    const Node* n = find(name);
    r.status = status(n, n && !n->txt.empty());
    if (r.status == net::DnsStatus::kOk) r.records = n->txt;
    later([done, r] { done(r); });
  }
  void a(const std::string& name, std::function<void(net::AddressResult)> done) override {
    log.push_back("A " + key(name));
    address(find(name), false, std::move(done));
  }
  void aaaa(const std::string& name, std::function<void(net::AddressResult)> done) override {
    log.push_back("AAAA " + key(name));
    address(find(name), true, std::move(done));
  }
  void mx(const std::string& name, std::function<void(net::MxResult)> done) override {
    log.push_back("MX " + key(name));
    net::MxResult r;
    const Node* n = find(name);
    r.status = status(n, n && !n->mx.empty());
    if (r.status == net::DnsStatus::kOk) r.records = n->mx;
    later([done, r] { done(r); });
  }
  void ptr(const SocketAddress& ip, std::function<void(net::PtrResult)> done) override {
    std::string k = ptr_key(ip.ip());
    log.push_back("PTR " + k);
    net::PtrResult r;
    const Node* n = find(k);
    r.status = status(n, n && !n->ptr.empty());
    if (r.status == net::DnsStatus::kOk) r.names = n->ptr;
    later([done, r] { done(r); });
  }

  // Runs queued answers, and those they cause, until none is left.
  void pump() {
    while (!queue_.empty()) {
      auto next = std::move(queue_.front());
      queue_.pop_front();
      next();
    }
  }
  // Runs the oldest queued answer; false if there was none.
  bool step() {
    if (queue_.empty()) return false;
    auto next = std::move(queue_.front());
    queue_.pop_front();
    next();
    return true;
  }
  // Forgets the queued answers, as a resolver destroyed mid-lookup does.
  void drop() { queue_.clear(); }
  size_t pending() const { return queue_.size(); }
  size_t count(const std::string& prefix) const {
    return static_cast<size_t>(std::count_if(
        log.begin(), log.end(), [&](const std::string& q) { return q.rfind(prefix, 0) == 0; }));
  }

  std::vector<std::string> log;  // "TXT example.com", in the order asked

 private:
  struct Node {
    std::vector<std::string> txt, a, aaaa, ptr;
    std::vector<net::MxRecord> mx;
    bool timeout = false;
  };

  static std::string key(std::string name) {
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!name.empty() && name.back() == '.') name.pop_back();
    return name;
  }
  static std::string ptr_key(const std::string& ip) { return "ptr:" + key(ip); }
  Node& node(const std::string& name) { return zone_[key(name)]; }
  const Node* find(const std::string& name) const {
    auto it = zone_.find(key(name));
    return it == zone_.end() ? nullptr : &it->second;
  }
  static net::DnsStatus status(const Node* n, bool has) {
    if (!n) return net::DnsStatus::kNxDomain;
    if (has) return net::DnsStatus::kOk;
    return n->timeout ? net::DnsStatus::kTimeout : net::DnsStatus::kNoData;
  }
  void address(const Node* n, bool v6, std::function<void(net::AddressResult)> done) {
    net::AddressResult r;
    const std::vector<std::string>* list = n ? (v6 ? &n->aaaa : &n->a) : nullptr;
    r.status = status(n, list && !list->empty());
    if (r.status == net::DnsStatus::kOk) {
      for (const auto& ip : *list) r.addresses.push_back(SocketAddress::parse(ip, 0).value());
    }
    later([done, r] { done(r); });
  }
  void later(std::function<void()> fn) { queue_.push_back(std::move(fn)); }

  std::map<std::string, Node> zone_;
  std::deque<std::function<void()>> queue_;
};

// Runs check_host() for MAIL FROM `sender` to its end.
inline SpfOutcome run_check(FakeSpfDns& dns, const std::string& ip, const std::string& sender,
                            const std::string& helo = "mail.example.net", SpfOptions options = {}) {
  SpfOutcome out;
  bool finished = false;
  options.now = options.now ? options.now : 1700000000;
  // Not owned: the fake lives on the test's stack.
  std::shared_ptr<SpfDns> shared(std::shared_ptr<void>(), &dns);
  check_host(shared, options, mail_from_request(SocketAddress::parse(ip, 0).value(), sender, helo),
             [&](SpfOutcome o) {
               out = std::move(o);
               finished = true;
             });
  dns.pump();
  if (!finished) out.problem = "NOT FINISHED";
  return out;
}

}  // namespace hato::policy::spf::testing
