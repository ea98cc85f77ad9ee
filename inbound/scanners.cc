// scanners.cc - clamd and rspamd clients on the loop, and what their answers mean.
#include "inbound/scanners.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/json.h"
#include "common/log.h"
#include "net/event_handles.h"
#include "net/http_client.h"

namespace hato::inbound {

namespace {

using policy::Verdict;

constexpr size_t kMaxAnswer = 1024 * 1024;  // rspamd's JSON with every symbol is a few KiB
constexpr size_t kClamdChunk = 64 * 1024;

// One request and its answer over a fresh connection, on the loop. The request may
// reference bytes the caller keeps alive until `done` runs: the connection is freed, and
// never writes again, before done is called.
class Exchange {
 public:
  using Done = std::function<void(Status, std::string)>;
  using Complete = std::function<bool(std::string_view answer)>;

  Exchange(Loop& loop, std::string what, Complete complete, Done done)
      : loop_(loop),
        what_(std::move(what)),
        complete_(std::move(complete)),
        done_(std::move(done)),
        timer_(loop, [this] { finish(Status::error("no answer from " + what_ + " in time")); }) {}

  // Connects and hands the output buffer to `fill`. Owns itself from here on.
  void start(const SocketAddress& to, std::chrono::milliseconds timeout,
             const std::function<void(evbuffer*)>& fill) {
    timer_.arm(timeout);
    int fd = ::socket(to.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail_soon(std::string("socket: ") + std::strerror(errno));
    if (!to.is_unix()) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    bev_.reset(bufferevent_socket_new(loop_.base(), fd, BEV_OPT_CLOSE_ON_FREE));
    if (!bev_) {
      ::close(fd);
      return fail_soon("cannot create a connection buffer");
    }
    bufferevent_setcb(bev_.get(), &Exchange::on_read, nullptr, &Exchange::on_event, this);
    bufferevent_enable(bev_.get(), EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(bev_.get(), to.sa(), static_cast<int>(to.length)) != 0)
      return fail_soon("connect to " + what_ + ": " + std::strerror(errno));
    fill(bufferevent_get_output(bev_.get()));
  }

 private:
  void fail_soon(std::string why) {
    loop_.post([this, why = std::move(why)] { finish(Status::error(why)); });
  }

  void finish(Status status) {
    if (finished_) return;
    finished_ = true;
    timer_.cancel();
    bev_.reset();  // before done: the request's references die with it
    auto done = std::move(done_);
    std::string answer = std::move(answer_);
    Exchange* self = this;
    loop_.post([self] { delete self; });
    done(std::move(status), std::move(answer));
  }

  static void on_read(bufferevent* bev, void* arg) {
    auto* self = static_cast<Exchange*>(arg);
    if (self->finished_) return;
    evbuffer* in = bufferevent_get_input(bev);
    size_t n = evbuffer_get_length(in);
    if (self->answer_.size() + n > kMaxAnswer)
      return self->finish(Status::error("answer from " + self->what_ + " too long"));
    size_t old = self->answer_.size();
    self->answer_.resize(old + n);
    evbuffer_remove(in, self->answer_.data() + old, n);
    if (self->complete_(self->answer_)) self->finish(Status::ok());
  }

  static void on_event(bufferevent*, short what, void* arg) {
    auto* self = static_cast<Exchange*>(arg);
    if (self->finished_ || (what & BEV_EVENT_CONNECTED)) return;
    // clamd answers "size limit exceeded" and closes while we still write: the
    // answer counts, not the broken pipe.
    if (!self->answer_.empty() && self->complete_(self->answer_)) return self->finish(Status::ok());
    if (what & BEV_EVENT_EOF) {
      // clamd and HTTP/1.0 servers close after the answer.
      if (self->answer_.empty())
        return self->finish(
            Status::error(self->what_ + " closed the connection without answering"));
      return self->finish(Status::ok());
    }
    int err = EVUTIL_SOCKET_ERROR();
    self->finish(Status::error("connect to " + self->what_ + ": " +
                               (err ? std::strerror(err) : "connection error")));
  }

  Loop& loop_;
  std::string what_;
  Complete complete_;
  Done done_;
  Timer timer_;
  net::BuffereventPtr bev_;
  std::string answer_;
  bool finished_ = false;
};

// Header values and reply texts carry only printable ASCII.
std::string printable(std::string_view s, size_t max = 200) {
  std::string out;
  for (char c : s) {
    if (out.size() >= max) break;
    unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) out += c;
  }
  return out;
}

double number(const JsonValue& v) {
  if (v.kind != JsonValue::Kind::kNumber) return 0;
  return std::strtod(v.text.c_str(), nullptr);
}

std::string two_places(double d) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.2f", d);
  return buf;
}

Verdict scanner_failed(const char* scanner, const conf::Scanner& config,
                       const policy::HookContext& context, const std::string& why) {
  log::warning("scanner failed",
               {{"scanner", scanner},
                {"peer", context.session.peer.to_string()},
                {"from", context.sender},
                {"reason", why},
                {"action", config.accept_on_failure ? "accepted unscanned" : "tempfail"}});
  if (config.accept_on_failure) return Verdict::proceed();
  return Verdict::reply(451, std::string("4.7.1 ") + (scanner[0] == 'c' ? "Virus" : "Spam") +
                                 " scanner unavailable, try again later");
}

bool ends_with(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

}  // namespace

Result<RspamdResult> parse_rspamd_reply(std::string_view json) {
  auto doc = parse_json(json);
  if (!doc || doc->kind != JsonValue::Kind::kObject)
    return Result<RspamdResult>::error("rspamd's answer is not a JSON object");
  const JsonValue& action = (*doc)["action"];
  if (action.kind != JsonValue::Kind::kString)
    return Result<RspamdResult>::error("rspamd's answer has no action");
  RspamdResult r;
  r.action = action.text;
  r.score = number((*doc)["score"]);
  r.required = number((*doc)["required_score"]);
  const JsonValue& smtp = (*doc)["messages"]["smtp_message"];
  if (smtp.kind == JsonValue::Kind::kString) r.message = printable(smtp.text);
  return r;
}

std::optional<Result<std::string>> http_response_body(std::string_view response, bool eof) {
  using R = Result<std::string>;
  // rspamd's answer is a small JSON object; the parser is the HTTP client's.
  net::HttpResponseParser parser(1 << 20);
  if (auto s = parser.feed(response); !s) return R::error("bad HTTP answer: " + s.message());
  if (!parser.complete()) {
    if (!eof) return std::nullopt;
    if (auto s = parser.finish(); !s) return R::error("HTTP answer cut off: " + s.message());
  }
  net::HttpResponse& r = parser.response();
  if (r.status != 200) return R::error("HTTP " + std::to_string(r.status));
  return R(std::move(r.body));
}

Verdict apply_rspamd(const RspamdResult& result, policy::TransactionState& tx) {
  const std::string& a = result.action;
  std::string score = two_places(result.score) + " / " + two_places(result.required);
  if (a == "reject") {
    return Verdict::reply(550, "5.7.1 Message refused as spam" +
                                   (result.message.empty() ? "" : ": " + result.message));
  }
  if (a == "soft reject" || a == "greylist") {
    return Verdict::reply(
        451, a == "greylist"
                 ? "4.7.1 Greylisted, try again later"
                 : "4.7.1 Try again later" +
                       (result.message.empty() ? std::string() : ": " + result.message));
  }
  tx.add_headers.push_back("X-Spam-Score: " + score + "\r\n");
  if (a == "add header" || a == "rewrite subject") {
    tx.add_headers.push_back("X-Spam: Yes\r\n");
    tx.folder = "Junk";
  }
  return Verdict::proceed();
}

ClamdResult parse_clamd_reply(std::string_view reply) {
  while (!reply.empty() && (reply.back() == '\0' || reply.back() == '\n' || reply.back() == '\r'))
    reply.remove_suffix(1);
  ClamdResult r;
  // "stream: OK", "stream: Eicar-Signature FOUND", "INSTREAM size limit exceeded. ERROR"
  std::string_view rest = reply;
  if (rest.substr(0, 8) == "stream: ") rest.remove_prefix(8);
  if (rest == "OK") {
    r.kind = ClamdResult::Kind::kClean;
  } else if (ends_with(rest, " FOUND") &&
             !(r.detail = printable(rest.substr(0, rest.size() - 6), 120)).empty()) {
    // A verdict names its signature; a "FOUND" with nothing printable before it is garbage
    // (fuzz: regress-found-without-name), so it counts as a scanner error below.
    r.kind = ClamdResult::Kind::kFound;
  } else {
    r.kind = ClamdResult::Kind::kError;
    r.detail = reply.empty() ? "empty answer" : printable(reply);
  }
  return r;
}

void ClamavHook::run(const policy::HookContext& context, std::function<void(Verdict)> done) {
  const auto& scanner = context.config.inbound.scanners.clamav;
  if (!scanner || context.session.role != conf::ListenerRole::kInbound || !context.message) {
    done(Verdict::proceed());
    return;
  }
  conf::Scanner config = *scanner;
  std::string peer = context.session.peer.to_string();
  std::string sender = context.sender;
  const std::string* message = context.message;
  auto* exchange = new Exchange(
      loop_, "clamd at " + config.address.to_string(),
      [](std::string_view answer) { return answer.find('\0') != std::string_view::npos; },
      [config, peer, sender, &context, done](Status status, std::string answer) {
        // context is still valid: done has not been called yet.
        if (!status) return done(scanner_failed("clamav", config, context, status.message()));
        ClamdResult r = parse_clamd_reply(answer);
        if (r.kind == ClamdResult::Kind::kError)
          return done(scanner_failed("clamav", config, context, "clamd: " + r.detail));
        if (r.kind == ClamdResult::Kind::kFound) {
          log::info("reject", {{"peer", peer},
                               {"from", sender},
                               {"scanner", "clamav"},
                               {"reason", "virus found: " + r.detail}});
          return done(Verdict::reply(554, "5.7.1 Message contains a virus (" + r.detail + ")"));
        }
        done(Verdict::proceed());
      });
  exchange->start(config.address, config.timeout, [message](evbuffer* out) {
    // zINSTREAM, then chunks of <4-byte big-endian length><bytes>, then a zero length.
    evbuffer_add(out, "zINSTREAM", 10);
    for (size_t pos = 0; pos < message->size(); pos += kClamdChunk) {
      size_t n = std::min(kClamdChunk, message->size() - pos);
      uint32_t be = htonl(static_cast<uint32_t>(n));
      evbuffer_add(out, &be, 4);
      evbuffer_add_reference(out, message->data() + pos, n, nullptr, nullptr);
    }
    uint32_t zero = 0;
    evbuffer_add(out, &zero, 4);
  });
}

void RspamdHook::run(const policy::HookContext& context, std::function<void(Verdict)> done) {
  const auto& scanner = context.config.inbound.scanners.rspamd;
  if (!scanner || context.session.role != conf::ListenerRole::kInbound || !context.message) {
    done(Verdict::proceed());
    return;
  }
  conf::Scanner config = *scanner;
  const std::string* message = context.message;
  // rspamd's protocol: the message as the body, what it cannot see in it as headers.
  std::string head = "POST /checkv2 HTTP/1.0\r\n";
  head += "Host: " + config.address.to_string() + "\r\n";
  head += "Content-Length: " + std::to_string(message->size()) + "\r\n";
  head += "IP: " + context.session.peer.ip() + "\r\n";
  if (!context.session.helo.empty()) head += "Helo: " + printable(context.session.helo) + "\r\n";
  head += "From: " + printable(context.sender, 1000) + "\r\n";
  for (const auto& r : context.tx.recipients) head += "Rcpt: " + printable(r, 1000) + "\r\n";
  head += "Hostname: " + printable(context.config.hostname) + "\r\n";
  if (context.session.tls) head += "TLS-Cipher: " + printable(context.session.tls_cipher) + "\r\n";
  head += "\r\n";
  std::string peer = context.session.peer.to_string();
  std::string sender = context.sender;
  auto* exchange = new Exchange(
      loop_, "rspamd at " + config.address.to_string(),
      [](std::string_view answer) { return http_response_body(answer, false).has_value(); },
      [config, peer, sender, &context, done](Status status, std::string answer) {
        if (!status) return done(scanner_failed("rspamd", config, context, status.message()));
        auto body = http_response_body(answer, true);
        if (!body || !*body)
          return done(scanner_failed("rspamd", config, context,
                                     "rspamd: " + (body ? body->message() : "no answer")));
        auto result = parse_rspamd_reply(body->value());
        if (!result) return done(scanner_failed("rspamd", config, context, result.message()));
        Verdict v = apply_rspamd(*result, context.tx);
        log::info("rspamd", {{"peer", peer},
                             {"from", sender},
                             {"action", result->action},
                             {"score", two_places(result->score)},
                             {"required", two_places(result->required)}});
        if (v.kind != Verdict::Kind::kContinue)
          log::info("reject", {{"peer", peer},
                               {"from", sender},
                               {"scanner", "rspamd"},
                               {"reason", "rspamd action " + result->action + ", score " +
                                              two_places(result->score)}});
        done(std::move(v));
      });
  exchange->start(config.address, config.timeout, [message, head](evbuffer* out) {
    evbuffer_add(out, head.data(), head.size());
    evbuffer_add_reference(out, message->data(), message->size(), nullptr, nullptr);
  });
}

void add_scanner_hooks(policy::HookChain& chain, Loop& loop) {
  chain.add(policy::Phase::kData, std::make_shared<ClamavHook>(loop));
  chain.add(policy::Phase::kData, std::make_shared<RspamdHook>(loop));
}

}  // namespace hato::inbound
