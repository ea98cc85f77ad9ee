// attempt.h - one connection to a destination, from DNS to QUIT: the attempt state machine.
//
//   start: MX and MTA-STS policy (an MX route), or the smarthost, or the LMTP server
//   -> routing (route_mx) and the MTA-STS host filter -> egress choice (with addresses)
//   -> per host: addresses, TLSA when DNSSEC allows (tlsa_applies), the host's TLS (host_tls)
//   -> per address: connect; the next address or host when nothing was sent yet
//   -> ready: jobs from the destination's queue one after another, then idle a moment
//   -> QUIT; or, when every host is exhausted, the queued mail is deferred or bounced
//      (route_failure) and a destination nobody answered for is marked down.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/loop.h"
#include "conf/config.h"
#include "net/resolver.h"
#include "relay/connector.h"
#include "relay/delivery_types.h"
#include "relay/mta_sts.h"
#include "relay/routing.h"
#include "relay/tls_policy.h"

namespace hato::relay {

class TlsReporter;

// What an attempt works with, fixed for its life: the configuration it started under and
// the engine's resolver, connections and policies.
struct AttemptTools {
  Loop& loop;
  conf::ConfigPtr config;
  net::Resolver& resolver;
  Connector& connector;
  StsPolicySource* sts = nullptr;      // null: MTA-STS not applied
  TlsReporter* tlsrpt = nullptr;       // null: TLS results not counted
  policy::Limiter* limiter = nullptr;  // null: no egress addresses
  DeliveryOptions options;
  std::string smarthost_password;
};

class Attempt : public ClientSession::Events {
 public:
  // `egress`: the address whose queued mail this connection is for; none for the first
  // connection to a destination whose provider is not known yet (it chooses once it is).
  Attempt(AttemptTools tools, AttemptOwner& owner, Destination& dest, std::optional<size_t> egress);
  ~Attempt() override;

  void start();
  // New work for a connection that was waiting for it.
  void wake();
  // An idle connection gives its place to mail for another address.
  void close_idle() { stop_idling(); }
  // The egress address of this connection (chosen or intended); none without addresses.
  std::optional<size_t> egress() const { return egress_ ? egress_->index : wanted_; }
  Destination& destination() { return dest_; }
  const Destination& destination() const { return dest_; }
  // Said QUIT and waits for the 221: the connection must live until then, or the QUIT
  // (still in the TLS layer's buffer) and the close_notify after it are never sent.
  bool quitting() const;

  // ClientSession::Events
  void ready() override;
  void failed(const Reply& reason) override;
  void finished() override;

 private:
  RouteKind route() const;
  void on_mx(net::MxResult mx);
  bool apply_mta_sts();
  bool choose_egress();
  void try_host();
  void on_addresses(net::AddressResult r);
  void lookup_tlsa();
  void begin_host();
  void try_address();
  ClientOptions client_options() const;
  void exhausted();
  void report_tls(const std::string& result, std::optional<std::string> host = std::nullopt);
  TlsFacts tls_facts() const;
  void next_job();
  // True when this connection may carry another job now; else it has idled, paused or quit.
  bool may_take_job(bool have_job);
  void send_job();
  void on_sent(TransactionResult result);
  void quit_and_end();
  std::string lmtp_address(const std::string& address, const std::string& folder) const;
  bool observe(const Reply& reply);
  void stop_idling();
  void leave_idle();
  void done();
  const std::string& current_host() const { return hosts_[next_host_ - 1].name; }

  AttemptTools tools_;
  AttemptOwner& owner_;
  Destination& dest_;
  std::vector<RouteHost> hosts_;
  size_t next_host_ = 0;
  int lookups_ = 0;  // MX and MTA-STS answers still awaited
  net::MxResult mx_;
  StsResult sts_;
  bool mx_secure_ = false;               // the MX answer (or its secure absence) had the AD bit
  std::optional<net::TlsaResult> tlsa_;  // of the current host, when asked
  HostTls host_;                         // what the current host requires
  TlsFacts tls_;                         // the policy of the connection being tried
  bool policy_failure_ = false;
  std::string ip_;  // of the connection being tried
  std::vector<SocketAddress> addresses_;
  size_t next_address_ = 0;
  std::unique_ptr<Connection> connection_;
  std::unique_ptr<ClientSession> session_;
  std::string host_text_;
  std::string last_error_;
  Job job_;
  bool job_active_ = false;
  bool connect_tried_ = false;
  bool ever_connected_ = false;
  bool dns_trouble_ = false;
  bool finished_ = false;
  size_t sent_ = 0;
  Timer idle_timer_;
  Timer pace_timer_;
  Timer choose_timer_;
  int64_t choose_since_ms_ = 0;  // when choose() first said "ask again shortly"
  std::optional<policy::EgressChoice> egress_;
  std::optional<size_t> wanted_;  // the address whose mail this connection is for
  bool first_ = false;            // opened before the destination's provider was known
  std::string provider_;
  size_t max_messages_;
};

}  // namespace hato::relay
