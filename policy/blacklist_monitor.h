// blacklist_monitor.h - watches our own egress addresses and sending domains on DNS
// blocklists and acts before users notice (issue 8).
//
// One round, every blacklist_monitor.interval (and on demand):
//   1. each egress address is looked up in each of `zones` (reversed IPv4, or IPv6 nibbles),
//      each configured domain in each of `domain_zones`, all at once over net::Resolver;
//      a listing's TXT record gives the reason;
//   2. each egress address's reverse DNS is checked: a PTR whose A/AAAA points back;
//   3. every answer updates its entry (policy/blacklist.h), written through to the state
//      store (queue/state_keys.h), so a restart remembers listings, their start and clean count;
//   4. when every lookup is back: held addresses leave the egress rotation (Limiter), then
//      new listings are logged, set in hato_blacklist_listed, POSTed to the webhook and mailed
//      to the postmaster; delistings and returns are logged and POSTed too.
// The next round is armed when one ends, so a slow list never makes rounds overlap.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/loop.h"
#include "conf/config.h"
#include "net/http_client.h"
#include "net/resolver.h"
#include "policy/blacklist.h"
#include "policy/limiter.h"

namespace hato::policy {

class BlacklistMonitor {
 public:
  // Mails a notice to blacklist_monitor.notify. The daemon queues it like any message: serve
  // (cli/serve.cc) wires it to the delivery engine, so policy/ needs nothing from relay/.
  using MailNotice = std::function<void(const conf::Config& config, const std::string& subject,
                                        const std::string& body)>;

  // Everything must outlive the monitor; `limiter` may be null (no egress addresses).
  // `http` POSTs to the webhook.
  BlacklistMonitor(Loop& loop, conf::ConfigPtr config, net::Resolver& resolver, StateStore& state,
                   Limiter* limiter, MailNotice mail, net::HttpClient& http);
  ~BlacklistMonitor();
  BlacklistMonitor(const BlacklistMonitor&) = delete;
  BlacklistMonitor& operator=(const BlacklistMonitor&) = delete;

  // Reads the stored state, takes held addresses out of the rotation at once, and starts the
  // first round. Nothing without a blacklist_monitor section.
  void start();
  // A reloaded configuration: zones, domains, webhook and interval apply from the next round.
  void set_config(conf::ConfigPtr config);
  bool enabled() const;
  // Runs a round now (or after the one under way) and calls `done` when it is over.
  void check_now(std::function<void()> done);

  // `hato blacklist status --json`: one object per line. Per egress address and zone:
  // {"check":"dnsbl","address","zone","listed","reason","since","last_checked","error",
  //  "in_rotation"}; per domain and domain zone the same with "check":"dbl" and "domain" (no
  // "in_rotation"); per egress address {"check":"ptr","address","ptr":[names],
  // "forward_confirmed","last_checked","error"}. Times RFC 3339, null when unknown.
  std::string status_json();

 private:
  struct Event;
  void run_round();
  void lookup(bool domain, const std::string& subject, const std::string& zone,
              const std::string& name);
  void check_ptr(const SocketAddress& address);
  void record(bool domain, const std::string& subject, const std::string& zone,
              const BlacklistOutcome& outcome);
  void record_ptr(const std::string& address, PtrCheck check);
  void finish_lookup();
  void finish_round();
  void apply_rotation();
  void notify(const std::vector<Event>& events);
  void post_webhook(const std::string& url, std::string json);
  static constexpr size_t kMaxWebhooksInFlight = 64;
  BlacklistEntry& entry(bool domain, const std::string& subject, const std::string& zone);
  PtrCheck& ptr_check(const std::string& address);

  Loop& loop_;
  conf::ConfigPtr config_;
  net::Resolver& resolver_;
  StateStore& state_;
  Limiter* limiter_;
  MailNotice mail_;
  net::HttpClient& http_;
  Timer timer_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // callbacks hold it weakly

  using Key = std::pair<std::string, std::string>;  // subject, zone
  std::map<Key, BlacklistEntry> addresses_;
  std::map<Key, BlacklistEntry> domains_;
  std::map<std::string, PtrCheck> ptrs_;
  std::map<std::string, std::string> out_;  // egress IP -> why it is out of the rotation
  bool all_held_warned_ = false;

  bool started_ = false;
  bool running_ = false;
  size_t pending_ = 0;
  std::vector<Event> events_;                        // of the round under way
  std::vector<std::function<void()>> waiting_;       // for the round under way
  std::vector<std::function<void()>> waiting_next_;  // asked during a round: one more
};

}  // namespace hato::policy
