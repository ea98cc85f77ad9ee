// client_session_fuzz.cc - the outbound SMTP client (ReplyReader and
// ClientSession) against a hostile server.
//
// Input: 2 header bytes, then what the server sends.
//   [0] bits 0-1 TLS mode (none, opportunistic, required, implicit), bit 2
//       credentials set, bit 3 the STARTTLS handshake fails, bit 4 the last
//       event is a timeout instead of a close
//   [1] seed for how the server bytes are split into reads; 0: one line per read
// When ready, the client sends up to two messages (three recipients each),
// then QUITs.
//
// Invariants: every transaction's callback runs exactly once by the time the
// connection is gone, with one reply per recipient; credentials never go out
// in clear; with TLS required no MAIL goes out in clear; nothing is sent after
// close().
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "relay/client_session.h"
#include "relay/smtp_reply.h"

using namespace hato;
using namespace hato::relay;

namespace {

struct FakeIo : ClientIo {
  void send(std::string_view b) override {
    FUZZ_CHECK(closes == 0, "sent after close()");
    // Commands start each send; look at every line start.
    for (size_t p = 0; p < b.size();) {
      std::string_view line = b.substr(p);
      if (!tls) {
        FUZZ_CHECK(line.rfind("AUTH", 0) != 0, "AUTH sent in clear");
        FUZZ_CHECK(!tls_required || line.rfind("MAIL", 0) != 0, "MAIL in clear with TLS required");
      }
      size_t eol = b.find("\r\n", p);
      if (eol == std::string_view::npos) break;
      p = eol + 2;
      if (in_data) break;  // message text: no commands in it
    }
    out.append(b);
  }
  void start_tls() override { tls_requested = true; }
  void close() override { ++closes; }
  void set_timeout(std::chrono::milliseconds) override {}

  std::string out;
  bool tls = false, tls_requested = false, tls_required = false, in_data = false;
  int closes = 0;
};

struct Events : ClientSession::Events {
  void ready() override { ++ready_count; }
  void failed(const Reply&) override { ++failures; }
  int ready_count = 0;
  int failures = 0;
};

OutboundMessage message(int n) {
  OutboundMessage m;
  m.id = "FUZZ" + std::to_string(n);
  m.sender = "app@example.test";
  for (const char* r : {"a@remote.test", "b@remote.test", "c@remote.test"})
    m.recipients.push_back({r, static_cast<uint8_t>(n == 0 ? 0 : 6), n == 0 ? "" : "rfc822;x@y"});
  m.data = std::make_shared<const std::string>(
      "From: <app@example.test>\r\nSubject: t\r\n\r\n.leading dot\r\n..\r\n.\r\nend\r\n");
  m.envid = n == 0 ? "" : "env+id";
  m.smtputf8 = n == 1;
  m.eight_bit = n == 1;
  m.ret = n == 1 ? "HDRS" : "";
  return m;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  uint8_t flags = data[0];
  uint32_t x = (uint32_t(data[1]) + 1) * 2654435761u | 1;
  bool line_reads = data[1] == 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 2, size - 2);

  // The reply reader alone, line by line.
  {
    ReplyReader reader;
    std::string_view rest = in;
    while (!rest.empty()) {
      size_t eol = rest.find("\r\n");
      std::string_view line = rest.substr(0, eol);
      if (auto r = reader.line(line)) {
        FUZZ_CHECK(r->code == 0 || (r->code >= 0 && r->code <= 999 && !r->lines.empty()),
                   "reply without lines");
        FUZZ_CHECK(r->lines.size() <= 1001, "unbounded multi-line reply");
        std::string enhanced = r->enhanced();
        FUZZ_CHECK(enhanced.size() >= 5 && enhanced.size() <= 11, "odd enhanced code");
        (void)r->text();
      }
      if (eol == std::string_view::npos) break;
      rest.remove_prefix(eol + 2);
    }
  }

  FakeIo io;
  Events events;
  ClientOptions options;
  options.helo = "relay.example.test";
  options.server_name = "mx.remote.test[192.0.2.1]";
  options.tls = static_cast<ClientTls>(flags & 3);
  io.tls_required = options.tls == ClientTls::kRequired || options.tls == ClientTls::kImplicit;
  if (flags & 4) {
    options.username = "user";
    options.password = "secret";
  }
  auto session = std::make_unique<ClientSession>(io, options, events);
  if (options.tls == ClientTls::kImplicit) io.tls = true;
  session->connected();

  int sent = 0, answered[2] = {0, 0};
  size_t result_sizes[2] = {0, 0};
  int handled_ready = 0;
  auto drive = [&] {
    while (handled_ready < events.ready_count) {
      ++handled_ready;
      if (session->state() != ClientSession::State::kReady) continue;
      if (sent < 2) {
        int n = sent++;
        session->send(message(n), [&, n](TransactionResult r) {
          ++answered[n];
          result_sizes[n] = r.size();
        });
      } else {
        session->quit();
      }
    }
  };

  size_t pos = 0;
  while (pos < in.size() && io.closes == 0) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    size_t n =
        std::min<size_t>((x & 15) == 0 ? 1 + (x >> 4) % 2048 : 1 + (x >> 4) % 32, in.size() - pos);
    if (line_reads) {  // one reply line per read, as a slow server would
      size_t eol = in.find("\r\n", pos);
      n = eol == std::string_view::npos ? in.size() - pos : eol + 2 - pos;
    }
    session->receive(in.substr(pos, n));
    pos += n;
    if (io.tls_requested && io.closes == 0) {
      io.tls_requested = false;
      if (flags & 8) {
        session->closed();
        break;
      }
      io.tls = true;
      session->tls_established("TLSv1.3", "TLS_AES_256_GCM_SHA384");
    }
    drive();
  }
  if (flags & 16) session->timed_out();
  session->closed();
  drive();

  for (int i = 0; i < sent; ++i) {
    bool ok = answered[i] == 1 ? result_sizes[i] == 3
                               : answered[i] == 0 && fuzz::known_bug("rset-callback");
    if (!ok)
      std::fprintf(
          stderr, "transaction %d: callback ran %d times, %zu results; state %d\nsent:\n%s\n", i,
          answered[i], result_sizes[i], static_cast<int>(session->state()), io.out.c_str());
    FUZZ_CHECK(answered[i] == 1 || (answered[i] == 0 && fuzz::known_bug("rset-callback")),
               "transaction callback not run exactly once");
    FUZZ_CHECK(answered[i] == 0 || result_sizes[i] == 3, "not one result per recipient");
  }
  return 0;
}
