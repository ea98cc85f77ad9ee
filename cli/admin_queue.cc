// admin_queue.cc - the queue's endpoints of the admin API: list, summary, show, the raw
// message and its headers, the operator's actions, flush and tail (admin_server.h lists
// them). Listings, summaries and flushes by domain are Scans, walking the store a slice at a
// time (admin_impl.h); tail is a Watcher on the EventBus.
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "cli/admin_impl.h"
#include "cli/queue_shape.h"
#include "cli/store_walk.h"
#include "common/log.h"
#include "common/strings.h"
#include "queue/event_json.h"

namespace hato::cli {

namespace {

bool has_pending_rcpt_in(const queue::Envelope& envelope, const std::string& domain) {
  for (const auto& r : envelope.recipients) {
    if (r.state == queue::RcptState::kPending && address_domain(r.address) == domain) return true;
  }
  return false;
}

// A listing stops reading the store while more than this waits to be sent.
constexpr size_t kListHighWater = 256 * 1024;
// ... and sends what a slice produced once it reaches this much.
constexpr size_t kListChunk = 64 * 1024;
// Pending output a watcher may have before its events are dropped.
constexpr size_t kWatcherBuffer = 1024 * 1024;
// Watchers may pause (a terminal on hold), so they time out later than kStreamWriteTimeout.
constexpr timeval kWatcherWriteTimeout = {300, 0};

void send_no_such_message(evhttp_request* req, std::string_view printed_id) {
  send_error(req, HTTP_NOTFOUND, "Not Found", "no such message: " + std::string(printed_id));
}

// send_store_error - 404 for an absent message, 500 for a store that failed
// The queue ID named in a path; a 404 answered and nullopt when it is not one.
std::optional<queue::QueueId> id_or_404(evhttp_request* req, std::string_view printed_id) {
  std::optional<queue::QueueId> id = queue::QueueId::parse(printed_id);
  if (!id) send_no_such_message(req, printed_id);
  return id;
}

void send_store_error(evhttp_request* req, std::string_view printed_id, const Status& status) {
  if (status.code() == Code::kNotFound) {
    send_no_such_message(req, printed_id);
    return;
  }
  log::error("admin read failed", {{"id", printed_id}, {"reason", status.message()}});
  send_error(req, HTTP_INTERNAL, "Internal Server Error",
             "reading message " + std::string(printed_id) + " failed: " + status.message());
}

// Parses ?domain= the way the operator meant it: "@example.test" and
// "Example.TEST" are example.test.
std::string domain_param(std::string_view value) {
  return address_domain(value.starts_with('@') ? value : "@" + std::string(value));
}

// send_message - the stored message, or its header section, as the answer
void send_message(evhttp_request* req, queue::Store& store, std::string_view printed_id,
                  bool headers_only) {
  std::optional<queue::QueueId> id = id_or_404(req, printed_id);
  if (!id) return;
  Result<std::string> message = store.message(*id);
  if (!message) {
    send_store_error(req, printed_id, message.status());
    return;
  }
  if (headers_only) {
    send_body(req, HTTP_OK, "OK", "text/plain", header_section(*message));
    return;
  }
  // Hand the bytes to the buffer without copying them: messages can be large.
  auto bytes = std::make_unique<std::string>(std::move(message).value());
  if (evbuffer_add_reference(
          evhttp_request_get_output_buffer(req), bytes->data(), bytes->size(),
          [](const void*, size_t, void* arg) { delete static_cast<std::string*>(arg); },
          bytes.get()) != 0) {
    send_error(req, HTTP_INTERNAL, "Internal Server Error", "out of memory");
    return;
  }
  bytes.release();  // the buffer's cleanup callback owns it now
  evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "message/rfc822");
  evhttp_send_reply(req, HTTP_OK, "OK", nullptr);
}

}  // namespace

Gauge& watcher_gauge() {
  static Gauge& g = metrics().gauge("hato_admin_watchers", "Open `queue tail` streams");
  return g;
}

// A walk over the whole store, one slice per loop turn.
class AdminServer::Impl::Scan : public Stream {
 public:
  Scan(Impl& server, evhttp_request* req) : Stream(server, req) {}

 protected:
  // Each message in ID order; false ends the walk early.
  virtual bool visit(const queue::StoredMessage& message) = 0;
  // Whether the slice should end now (a listing with a full chunk).
  virtual bool slice_full() const { return false; }
  // Between slices; the default goes on at the next loop turn.
  virtual void paused() { resume_soon(); }
  // The walk is over (all seen, or visit() said stop): answer and end.
  virtual void done() = 0;
  virtual void failed(const Status& status) = 0;

  void start() override {
    next_.reset(event_new(server_.loop.base(), -1, 0, &Scan::on_next, this));
    if (!next_) {
      failed(Status::error("out of memory"));
      return;
    }
    slice();
  }

  void resume_soon() { event_active(next_.get(), EV_TIMEOUT, 0); }

 private:
  static void on_next(evutil_socket_t, short, void* arg) { static_cast<Scan*>(arg)->slice(); }

  void slice() {
    WalkSlice step = walk_slice(
        server_.store, cursor_, [this](const queue::StoredMessage& m) { return visit(m); },
        [this] { return slice_full(); });
    if (!step.status) {
      log::error("admin queue walk failed", {{"reason", step.status.message()}});
      failed(step.status);
      return;
    }
    if (step.stopped || !step.more) {
      done();
      return;
    }
    paused();
  }

  std::optional<queue::QueueId> cursor_;  // the last message seen
  EventPtr next_;
};

// GET /v1/queue: JSON lines, sent while the walk goes on.
class AdminServer::Impl::ListScan : public Scan {
 public:
  ListScan(Impl& server, evhttp_request* req, size_t limit,
           std::optional<queue::MessageState> state, std::string domain)
      : Scan(server, req),
        limit_(limit),
        state_(state),
        domain_(std::move(domain)),
        chunk_(evbuffer_new()) {}

 protected:
  bool visit(const queue::StoredMessage& m) override {
    if (state_ && m.envelope.state != *state_) return true;
    if (!domain_.empty() && !has_pending_rcpt_in(m.envelope, domain_)) return true;
    line_ = message_json(m, false);
    line_ += '\n';
    evbuffer_add(chunk_.get(), line_.data(), line_.size());
    return ++count_ < limit_;
  }

  bool slice_full() const override { return evbuffer_get_length(chunk_.get()) >= kListChunk; }

  void paused() override {
    flush_chunk();
    // Read on only once the client has taken most of what was sent.
    if (pending_output() > kListHighWater) {
      waiting_ = true;
      return;
    }
    resume_soon();
  }

  void drained() override {
    if (!waiting_) return;
    waiting_ = false;
    resume_soon();
  }

  void done() override {
    if (!reply_started_) {
      // All of it fits in one answer.
      evbuffer_add_buffer(evhttp_request_get_output_buffer(req_), chunk_.get());
      reply_buffer_and_end("application/x-ndjson");
      return;
    }
    flush_chunk();
    end();
  }

  void failed(const Status& status) override {
    std::string message = "reading the queue failed: " + status.message();
    if (!reply_started_) {
      reply_and_end(HTTP_INTERNAL, "Internal Server Error", message);
      return;
    }
    // Too late for a status code: the last line says it, and the CLI reads it.
    flush_chunk();
    send_chunk(error_json(message));
    end();
  }

 private:
  void flush_chunk() {
    if (!reply_started_) start_reply("application/x-ndjson");
    send_chunk(chunk_.get());
  }

  const size_t limit_;
  const std::optional<queue::MessageState> state_;
  const std::string domain_;
  EvbufferPtr chunk_;
  std::string line_;
  size_t count_ = 0;
  bool waiting_ = false;
};

// GET /v1/queue/summary: a table of counts (QueueShape), answered at the end of the walk.
class AdminServer::Impl::SummaryScan : public Scan {
 public:
  SummaryScan(Impl& server, evhttp_request* req, std::optional<queue::MessageState> state)
      : Scan(server, req), shape_(state, log::now_ms()) {}

 protected:
  bool visit(const queue::StoredMessage& m) override {
    shape_.add(m);
    return true;
  }

  void done() override { reply_and_end(HTTP_OK, "OK", shape_.json()); }

  void failed(const Status& status) override {
    reply_and_end(HTTP_INTERNAL, "Internal Server Error",
                  "reading the queue failed: " + status.message());
  }

 private:
  QueueShape shape_;
};

// POST /v1/queue/flush?domain=D: every message with a pending recipient in D due now.
class AdminServer::Impl::FlushScan : public Scan {
 public:
  FlushScan(Impl& server, evhttp_request* req, std::string domain)
      : Scan(server, req), domain_(std::move(domain)) {}

 protected:
  bool visit(const queue::StoredMessage& m) override {
    // Held mail stays held: flushing is not releasing (as postqueue -f).
    if (m.envelope.state == queue::MessageState::kHeld) return true;
    if (!has_pending_rcpt_in(m.envelope, domain_)) return true;
    if (server_.control.flush(m.id)) ++flushed_;
    return true;
  }

  void done() override {
    log::info("admin flush", {{"domain", domain_}, {"messages", std::to_string(flushed_)}});
    reply_and_end(HTTP_OK, "OK", "{\"ok\":true,\"flushed\":" + std::to_string(flushed_) + "}\n");
  }

  void failed(const Status& status) override {
    reply_and_end(HTTP_INTERNAL, "Internal Server Error",
                  "reading the queue failed after flushing " + std::to_string(flushed_) +
                      " messages: " + status.message());
  }

 private:
  const std::string domain_;
  size_t flushed_ = 0;
};

// POST /v1/users/NAME/thaw, after the freeze is cleared: the user's held mail is released.
class AdminServer::Impl::ReleaseUserScan : public Scan {
 public:
  ReleaseUserScan(Impl& server, evhttp_request* req, std::string user)
      : Scan(server, req), user_(std::move(user)) {}

 protected:
  bool visit(const queue::StoredMessage& m) override {
    if (m.envelope.state != queue::MessageState::kHeld || m.envelope.auth_user != user_)
      return true;
    if (Status r = server_.control.release(m.id); r) {
      ++released_;
    } else {
      log::warning("held mail of a thawed user not released",
                   {{"id", m.id.str()}, {"user", user_}, {"reason", r.message()}});
    }
    return true;
  }

  void done() override {
    log::warning("user thawed", {{"user", user_}, {"released", std::to_string(released_)}});
    reply_and_end(HTTP_OK, "OK", "{\"ok\":true,\"released\":" + std::to_string(released_) + "}\n");
  }

  void failed(const Status& status) override {
    reply_and_end(HTTP_INTERNAL, "Internal Server Error",
                  "user " + user_ + " thawed, but reading the queue failed after releasing " +
                      std::to_string(released_) + " messages: " + status.message());
  }

 private:
  const std::string user_;
  size_t released_ = 0;
};

void AdminServer::Impl::release_held_of(evhttp_request* req, std::string user) {
  run(std::make_unique<ReleaseUserScan>(*this, req, std::move(user)));
}

// GET /v1/events: one JSON line per queue event, for as long as the client stays.
class AdminServer::Impl::Watcher : public Stream {
 public:
  Watcher(Impl& server, evhttp_request* req) : Stream(server, req) {}

  ~Watcher() override {
    if (token_) {
      server_.events.unsubscribe(token_);
      --server_.watchers;
      watcher_gauge().add(-1);
      log::info("admin tail ended", {{"watchers", std::to_string(server_.watchers)}});
    }
  }

 protected:
  void start() override {
    start_reply("application/x-ndjson");
    token_ = server_.events.subscribe([this](const queue::QueueEvent& e) { on_event(e); });
    ++server_.watchers;
    watcher_gauge().add(1);
    log::info("admin tail started", {{"watchers", std::to_string(server_.watchers)}});
  }

  timeval write_timeout() const override { return kWatcherWriteTimeout; }

  // "When there is room again": the buffer has been written out entirely.
  void drained() override {
    if (missed_ == 0) return;
    send_chunk(missed_line());
    missed_ = 0;
  }

 private:
  // Called by EventBus::publish() on the loop: copy into the buffer or drop, never wait.
  void on_event(const queue::QueueEvent& e) {
    std::string text;
    if (missed_ > 0) text = missed_line();
    text += queue::event_json(e);
    text += '\n';
    if (pending_output() + text.size() > kWatcherBuffer) {
      ++missed_;
      return;
    }
    send_chunk(text);
    missed_ = 0;
  }

  std::string missed_line() const {
    std::string line = "{\"time\":";
    log::append_json_string(line, log::rfc3339(log::now_ms()));
    line += ",\"event\":\"missed\",\"count\":" + std::to_string(missed_) + "}\n";
    return line;
  }

  uint64_t token_ = 0;
  uint64_t missed_ = 0;  // events dropped since the last line that went out
};

// ---------------------------------------------------------------------------
// Reading.

namespace {

// The `state` filter; "" or the reason it is refused.
std::string read_state(std::string_view value, std::optional<queue::MessageState>* state) {
  queue::MessageState s;
  if (!parse_message_state(value, &s))
    return "state must be queued, deferred or held: " + std::string(value);
  *state = s;
  return "";
}

}  // namespace

void AdminServer::Impl::list(evhttp_request* req, const RouteArgs& args) {
  size_t limit = std::numeric_limits<size_t>::max();
  std::optional<queue::MessageState> state;
  std::string domain;
  bool read = read_query(req, args.query, [&](std::string_view key, std::string_view value) {
    if (key == "limit") {
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), limit);
      if (ec != std::errc() || end != value.data() + value.size() || limit == 0)
        return "limit must be a positive number: " + std::string(value);
      return std::string();
    }
    if (key == "state") return read_state(value, &state);
    if (key == "domain") {
      domain = domain_param(value);
      return std::string();
    }
    return unknown_parameter(key);
  });
  if (read) run(std::make_unique<ListScan>(*this, req, limit, state, std::move(domain)));
}

void AdminServer::Impl::summary(evhttp_request* req, const RouteArgs& args) {
  std::optional<queue::MessageState> state;
  bool read = read_query(req, args.query, [&](std::string_view key, std::string_view value) {
    return key == "state" ? read_state(value, &state) : unknown_parameter(key);
  });
  if (read) run(std::make_unique<SummaryScan>(*this, req, state));
}

void AdminServer::Impl::tail(evhttp_request* req, const RouteArgs&) {
  run(std::make_unique<Watcher>(*this, req));
}

void AdminServer::Impl::show(evhttp_request* req, const RouteArgs& args) {
  std::string_view printed_id = args.id;
  std::optional<queue::QueueId> id = id_or_404(req, printed_id);
  if (!id) return;
  Result<queue::Envelope> envelope = store.envelope(*id);
  if (!envelope) {
    send_store_error(req, printed_id, envelope.status());
    return;
  }
  std::string body = message_json(queue::StoredMessage{*id, std::move(envelope).value()}, true);
  body += '\n';
  send_json(req, HTTP_OK, "OK", body);
}

void AdminServer::Impl::headers(evhttp_request* req, const RouteArgs& args) {
  send_message(req, store, args.id, /*headers_only=*/true);
}

void AdminServer::Impl::raw_message(evhttp_request* req, const RouteArgs& args) {
  send_message(req, store, args.id, /*headers_only=*/false);
}

// ---------------------------------------------------------------------------
// Steering.

Status queue_action(queue::QueueControl& control, const queue::QueueId& id, std::string_view action,
                    std::string_view user) {
  Status status = action == "hold"      ? control.hold(id)
                  : action == "release" ? control.release(id)
                  : action == "flush"   ? control.flush(id)
                  : action == "delete"  ? control.remove(id)
                  : action == "bounce"  ? control.bounce(id)
                                        : Status::error("unknown action: " + std::string(action));
  if (!status) return status;
  // Who did what to which message: the operator's actions belong in the log.
  if (user.empty()) {
    log::info("admin action", {{"action", action}, {"id", id.str()}});
  } else {
    log::info("admin action", {{"action", action}, {"id", id.str()}, {"user", user}});
  }
  return status;
}

void AdminServer::Impl::act(evhttp_request* req, const RouteArgs& args) {
  std::string_view printed_id = args.id;
  // The route's last segment: hold, release, flush, delete or bounce.
  std::string_view action = args.path.substr(args.path.rfind('/') + 1);
  std::optional<queue::QueueId> id = id_or_404(req, printed_id);
  if (!id) return;
  Status status = queue_action(control, *id, action, "");
  if (status) {
    send_json(req, HTTP_OK, "OK", "{\"ok\":true}\n");
    return;
  }
  if (status.code() == Code::kNotFound) {
    send_no_such_message(req, printed_id);
    return;
  }
  send_error(req, kHttpConflict, "Conflict",
             std::string(action) + " " + std::string(printed_id) + ": " + status.message());
}

void AdminServer::Impl::flush(evhttp_request* req, const RouteArgs& args) {
  std::string domain;
  bool read = read_query(req, args.query, [&](std::string_view key, std::string_view value) {
    if (key != "domain") return unknown_parameter(key);
    domain = domain_param(value);
    return domain.empty() ? std::string("domain must not be empty") : std::string();
  });
  if (!read) return;
  if (!domain.empty()) {
    run(std::make_unique<FlushScan>(*this, req, std::move(domain)));
    return;
  }
  size_t flushed = control.flush_all();
  log::info("admin flush", {{"domain", "*"}, {"messages", std::to_string(flushed)}});
  send_json(req, HTTP_OK, "OK", "{\"ok\":true,\"flushed\":" + std::to_string(flushed) + "}\n");
}

}  // namespace hato::cli
