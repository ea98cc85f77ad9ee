// hook.h - the hook chain: policy decisions that may wait (on DNS, a worker)
// without blocking the loop.
//
// A session runs the chain of a phase and pauses until the chain decides. Each
// hook answers through its callback, at once or later from the same loop:
// Continue hands over to the next hook; Reply ends the chain with an SMTP
// reply (the session sends it; 4xx/5xx refuse the command); Disconnect replies
// and closes. After the last hook the chain's own verdict is Continue.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/net.h"
#include "conf/config.h"

namespace hato::policy {

enum class Phase { kConnect, kHelo, kAuth, kMail, kRcpt, kData, kCommit };
constexpr int kPhaseCount = 7;

struct Verdict {
  enum class Kind { kContinue, kReply, kDisconnect };
  Kind kind = Kind::kContinue;
  int code = 0;
  std::string text;  // "5.7.1 Relaying denied" (enhanced code first)
  // A 4xx that knows when trying again can succeed (a quota's reset): HTTP's Retry-After.
  int64_t retry_after_s = 0;

  static Verdict proceed() { return {}; }
  static Verdict reply(int code, std::string text) { return {Kind::kReply, code, std::move(text)}; }
  static Verdict disconnect(int code, std::string text) {
    return {Kind::kDisconnect, code, std::move(text)};
  }
};

// What hooks may look at: the session so far and the command being decided.
struct SessionInfo {
  std::string listener;
  conf::ListenerRole role = conf::ListenerRole::kSubmission;
  SocketAddress peer;
  std::string helo;
  bool tls = false;
  std::string tls_version;  // "TLSv1.3"
  std::string tls_cipher;
  std::string auth_user;  // empty until AUTH succeeds
  bool trusted = false;   // peer is in the listener's trusted_networks
};

// What the checks of one transaction learn and leave for later phases
// (SPF at MAIL for DMARC at DATA) and for the message (headers, folder).
struct TransactionState {
  std::string queue_id;    // drawn before the kData hooks, so that their log lines name it
  std::string spf;         // SPF result for the MAIL FROM domain: pass, fail, softfail, ...
  std::string spf_domain;  // the domain SPF checked (MAIL FROM's, or HELO's for <>)
  std::vector<std::string> dkim_pass_domains;  // d= of each passing DKIM signature (for DMARC)
  std::vector<std::string> auth_results;       // Authentication-Results clauses, "spf=pass ..."
  std::vector<std::string> add_headers;        // complete fields, CRLF-terminated, put on top
  std::string folder;                          // local delivery folder ("Junk"); empty: inbox
  std::vector<std::string> recipients;         // the accepted RCPTs so far (scanners at kData)
};

struct HookContext {
  const SessionInfo& session;
  const conf::Config& config;
  const std::string& sender;     // MAIL FROM of the transaction (kMail and later)
  const std::string& recipient;  // the RCPT being decided (kRcpt only)
  TransactionState& tx;
  // kData only: the message as received (header and body, CRLF lines),
  // before Hato's own trace headers. Hooks may edit it (remove forged
  // Authentication-Results); null in other phases.
  std::string* message = nullptr;
};

class Hook {
 public:
  virtual ~Hook() = default;
  virtual const char* name() const = 0;
  // Calls done exactly once, now or later on the session's loop. The context
  // is valid only until done is called: copy what outlives it.
  virtual void run(const HookContext& context, std::function<void(Verdict)> done) = 0;
};

// The hooks of each phase, run in the order they were added.
class HookChain {
 public:
  void add(Phase phase, std::shared_ptr<Hook> hook);
  bool empty(Phase phase) const { return hooks_[static_cast<int>(phase)].empty(); }
  // Runs the phase's hooks until one does not Continue; then calls done.
  void run(Phase phase, const HookContext& context, std::function<void(Verdict)> done) const;

 private:
  std::vector<std::shared_ptr<Hook>> hooks_[kPhaseCount];
};

}  // namespace hato::policy
