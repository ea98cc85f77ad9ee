// server_session_fuzz.cc - a whole ServerSession (the real submission and
// inbound hooks) fed hostile bytes through fake io and services.
//
// Input: 4 header bytes, then what the client sends.
//   [0] listener: 0 submission/STARTTLS, 1 trusted (peer 10.1.2.3), 2 implicit
//       TLS, 3 inbound/STARTTLS, 4 inbound without TLS
//   [1] bit 0 commits answer later, bit 1 AUTH answers later, bit 2 commits
//       fail, bit 3 the command timeout fires at the end, bit 4 at most 3
//       recipients, bit 5 a 300-byte message limit, bit 6 max_errors 3
//   [2..3] seed for how the client bytes are split into reads
// A STARTTLS handshake completes after the read that asked for it; answers
// held back come after each read.
//
// Invariants: nothing is sent after close() was requested or after the
// connection closed; nothing between STARTTLS and the end of the handshake;
// every byte sent is a well-formed reply line; every queued message has only
// CRLF line ends and a Received field without control characters; envelope
// addresses have no control characters.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"
#include "fuzz/fuzz_util.h"
#include "inbound/recipients.h"
#include "policy/hook.h"
#include "policy/submission.h"
#include "queue/envelope.h"
#include "queue/queue_id.h"
#include "relay/server_session.h"

using namespace hato;
using namespace hato::relay;

namespace {

class FakeIo : public SessionIo {
 public:
  void send(std::string_view bytes) override {
    FUZZ_CHECK(close_calls == 0, "reply sent after close()");
    FUZZ_CHECK(!gone, "reply sent after the connection closed");
    FUZZ_CHECK(!tls_requested, "plaintext sent between STARTTLS and the handshake");
    out.append(bytes);
  }
  void start_tls() override {
    FUZZ_CHECK(!tls_requested && !tls_done, "STARTTLS requested twice");
    tls_requested = true;
  }
  void close() override { ++close_calls; }
  void set_timeout(std::chrono::milliseconds) override {}
  void set_reading(bool) override {}

  std::string out;
  int close_calls = 0;
  bool gone = false;
  bool tls_requested = false;
  bool tls_done = false;
};

class FakeServices : public SessionServices {
 public:
  void authenticate(const std::string&, const std::string& user, const std::string& password,
                    std::function<void(AuthOutcome)> done) override {
    AuthOutcome o;
    o.ok = user == "alice" && password == "alice-secret";
    o.blocked = user == "blocked";
    if (defer_auth) {
      pending.push_back([done, o] { done(o); });
    } else {
      done(o);
    }
  }
  queue::QueueId next_id() override { return ids.next(); }
  void commit(const queue::QueueId&, std::string message, queue::Envelope envelope,
              std::function<void(Status)> done, queue::Store::StateRecords) override {
    check_commit(message, envelope);
    bool fail = fail_commit;
    auto answer = [done, fail] { done(fail ? Status::error("disk full") : Status::ok()); };
    if (defer_commit) {
      pending.push_back(answer);
    } else {
      answer();
    }
  }

  static void check_commit(const std::string& message, const queue::Envelope& env) {
    FUZZ_CHECK(fuzz::known_bug("helo-controls") || fuzz::known_bug("literal-controls") ||
                   fuzz::crlf_clean(message),
               "queued message has a bare CR or LF");
    FUZZ_CHECK(message.rfind("Received: ", 0) == 0, "queued message without Received first");
    // The Received field: up to the first CRLF not followed by a tab.
    size_t end = 0;
    while (true) {
      end = message.find("\r\n", end);
      if (end == std::string::npos || end + 2 >= message.size() || message[end + 2] != '\t') break;
      end += 2;
    }
    std::string_view received(message.data(), end == std::string::npos ? message.size() : end);
    if (!fuzz::known_bug("helo-controls"))
      for (unsigned char c : received)
        FUZZ_CHECK(c >= 0x20 || c == '\t' || c == '\r' || c == '\n',
                   "control character in the Received field");
    FUZZ_CHECK(fuzz::known_bug("literal-controls") || fuzz::no_controls(env.sender),
               "control character in the envelope sender");
    FUZZ_CHECK(!env.recipients.empty(), "queued without recipients");
    for (const auto& r : env.recipients)
      FUZZ_CHECK(fuzz::known_bug("literal-controls") || fuzz::no_controls(r.address),
                 "control character in an envelope recipient");
    FUZZ_CHECK(fuzz::known_bug("helo-controls") || fuzz::no_controls(env.client),
               "control character in the envelope client");
  }

  bool defer_auth = false, defer_commit = false, fail_commit = false;
  std::vector<std::function<void()>> pending;
  queue::QueueIdGenerator ids;
};

conf::Listener listener(std::string name, conf::ListenerRole role, conf::ListenerTls tls,
                        const char* trusted = nullptr) {
  conf::Listener l;
  l.name = std::move(name);
  l.role = role;
  l.tls = tls;
  if (trusted) l.trusted_networks.push_back(*Cidr::parse(trusted));
  return l;
}

conf::ConfigPtr make_config(uint8_t flags) {
  auto c = std::make_shared<conf::Config>();
  c->source = "<fuzz>";
  c->hostname = "mx.example.org";
  conf::Domain org;
  org.name = "example.org";
  org.mailboxes = {"alice", "bob", "postmaster"};
  org.aliases = {{"info", "alice"}};
  c->domains = {org};
  c->allowed_senders["carol"] = {"carol@example.org"};
  using conf::ListenerRole;
  using conf::ListenerTls;
  c->listeners = {
      listener("submission", ListenerRole::kSubmission, ListenerTls::kStartTls),
      listener("trusted", ListenerRole::kSubmission, ListenerTls::kNone, "10.0.0.0/8"),
      listener("smtps", ListenerRole::kSubmission, ListenerTls::kImplicit),
      listener("mx", ListenerRole::kInbound, ListenerTls::kStartTls),
      listener("mx-plain", ListenerRole::kInbound, ListenerTls::kNone),
  };
  if (flags & 0x10) c->limits.max_recipients = 3;
  if (flags & 0x20) c->limits.max_message_size = 300;
  if (flags & 0x40) c->limits.max_errors = 3;
  return c;
}

const policy::HookChain& hooks() {
  static const policy::HookChain* chain = [] {
    auto* h = new policy::HookChain;
    policy::add_submission_hooks(*h);
    h->add(policy::Phase::kRcpt, std::make_shared<inbound::RecipientHook>());
    return h;
  }();
  return *chain;
}

std::string escaped(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

void check_replies(std::string_view out) {
  while (!out.empty()) {
    size_t eol = out.find("\r\n");
    FUZZ_CHECK(eol != std::string_view::npos, "reply without CRLF");
    std::string_view line = out.substr(0, eol);
    FUZZ_CHECK(line.size() >= 4 && isdigit(static_cast<unsigned char>(line[0])) &&
                   isdigit(static_cast<unsigned char>(line[1])) &&
                   isdigit(static_cast<unsigned char>(line[2])) &&
                   (line[3] == ' ' || line[3] == '-'),
               "malformed reply line");
    if (line.find_first_of("\r\n") != std::string_view::npos && !fuzz::known_bug("reply-echo"))
      std::fprintf(stderr, "reply line: %s\n", escaped(line).c_str());
    FUZZ_CHECK(
        fuzz::known_bug("reply-echo") || line.find_first_of("\r\n") == std::string_view::npos,
        "bare CR or LF inside a reply line");
    out.remove_prefix(eol + 2);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  uint8_t which = data[0] % 5;
  uint8_t flags = data[1];
  uint32_t x = (uint32_t(data[2]) << 8 | data[3]) * 2654435761u | 1;
  std::string_view in(reinterpret_cast<const char*>(data) + 4, size - 4);

  auto config = make_config(flags);
  const conf::Listener& l = config->listeners[which];
  auto peer = SocketAddress::parse(which == 1 ? "10.1.2.3:4000" : "192.0.2.7:4000");
  FakeIo io;
  FakeServices services;
  services.defer_commit = flags & 1;
  services.defer_auth = flags & 2;
  services.fail_commit = flags & 4;
  auto session = std::make_shared<ServerSession>(io, services, hooks(), config, l, *peer);
  if (l.tls == conf::ListenerTls::kImplicit) {
    io.tls_done = true;
    session->tls_established("TLSv1.3", "TLS_AES_256_GCM_SHA384");
  }
  session->start();

  size_t pos = 0;
  while (pos < in.size()) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    size_t n = (x & 3) == 0 ? 1 + (x >> 2) % 4096 : 1 + (x >> 2) % 64;
    n = std::min(n, in.size() - pos);
    session->receive(in.substr(pos, n));
    pos += n;
    if (io.tls_requested && !io.gone && io.close_calls == 0) {
      io.tls_requested = false;
      io.tls_done = true;
      session->tls_established("TLSv1.3", "TLS_AES_128_GCM_SHA256");
    }
    // Held-back answers arrive now (sometimes one read later).
    if ((x & 0x100) == 0) {
      auto pending = std::move(services.pending);
      services.pending.clear();
      for (auto& answer : pending) answer();
    }
  }
  if (flags & 8) session->timed_out();
  auto pending = std::move(services.pending);
  services.pending.clear();
  for (auto& answer : pending) answer();

  // The connection goes away; whatever is still pending must stay silent.
  io.gone = true;
  session->closed();
  session->receive("NOOP\r\n");
  session->timed_out();
  pending = std::move(services.pending);
  services.pending.clear();
  for (auto& answer : pending) answer();

  check_replies(io.out);
  return 0;
}
