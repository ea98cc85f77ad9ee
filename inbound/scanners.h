// scanners.h - content scanners at the end of DATA on inbound listeners: ClamAV's clamd
// (INSTREAM) and rspamd (its HTTP protocol, POST /checkv2). Both are hooks in the kData
// chain, after DKIM and DMARC, each asked over a fresh nonblocking connection on the
// session's loop; the message goes out from the bytes already in memory (evbuffer
// references, no copy). Each reads inbound.scanners from the session's config on every run,
// so a reload switches them on or off.
//
//   clamd   "stream: OK"           deliver
//           "stream: NAME FOUND"   554 5.7.1 naming the virus
//   rspamd  no action              deliver, with X-Spam-Score
//           add header, rewrite subject
//                                  deliver with X-Spam: Yes, into the mailbox's Junk folder
//           soft reject, greylist  451 4.7.1
//           reject                 550 5.7.1
//   either  down, timeout, ERROR, an answer that makes no sense:
//           on_failure: tempfail   451 4.7.1 (the client tries again; nothing is lost)
//           on_failure: accept     deliver unscanned, logged as a warning
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/loop.h"
#include "common/status.h"
#include "policy/hook.h"

namespace hato::inbound {

// What rspamd answered, from the JSON body of a /checkv2 reply.
struct RspamdResult {
  std::string action;  // "no action", "greylist", "add header", "rewrite subject", ...
  double score = 0;
  double required = 0;
  std::string message;  // messages.smtp_message, when rspamd gives one
};
Result<RspamdResult> parse_rspamd_reply(std::string_view json);

// The body of an HTTP/1.x response that is complete in `response`; an error for a status
// other than 200 or a cut-off body. nullopt while more bytes are needed.
std::optional<Result<std::string>> http_response_body(std::string_view response, bool eof);

// Turns rspamd's verdict into the session's verdict, adding header fields (and the Junk
// folder) to `tx` for mail that is delivered.
policy::Verdict apply_rspamd(const RspamdResult& result, policy::TransactionState& tx);

// What clamd answered to INSTREAM ("stream: OK\0").
struct ClamdResult {
  enum class Kind { kClean, kFound, kError };
  Kind kind = Kind::kError;
  std::string detail;  // the signature name, or the error text
};
ClamdResult parse_clamd_reply(std::string_view reply);

class ClamavHook : public policy::Hook {
 public:
  explicit ClamavHook(Loop& loop) : loop_(loop) {}
  const char* name() const override { return "clamav"; }
  void run(const policy::HookContext& context, std::function<void(policy::Verdict)> done) override;

 private:
  Loop& loop_;
};

class RspamdHook : public policy::Hook {
 public:
  explicit RspamdHook(Loop& loop) : loop_(loop) {}
  const char* name() const override { return "rspamd"; }
  void run(const policy::HookContext& context, std::function<void(policy::Verdict)> done) override;

 private:
  Loop& loop_;
};

// ClamAV first (a virus is refused whatever its spam score), then rspamd.
void add_scanner_hooks(policy::HookChain& chain, Loop& loop);

}  // namespace hato::inbound
