// admin_impl.h - what the admin API's files share: AdminServer::Impl, its route table, the
// Stream base of long answers and the HTTP reply helpers. Internal to cli/admin_*.cc; the
// interface is admin_server.h, which no libevent header reaches.
//
// Requests run on the loop thread. handle() looks the path up in Impl::routes() and calls
// the route's handler, which lives in the file of its area (admin_queue.cc, admin_backup.cc,
// admin_blacklist.cc, admin_cluster.cc, admin_events.cc, admin_warmup.cc, admin_tlsrpt.cc,
// admin_dmarc.cc, admin_users.cc, admin_suppress.cc). Short requests (show, the operator's actions)
// are answered from the request callback. Long ones are Streams that outlive it: a Scan walks the
// store in slices (store.for_each_from resumes where the last slice stopped), yielding to the loop
// between slices, and a listing also waits for its client to drain what was sent before it reads
// on, so neither the loop nor memory is held by a large queue or a slow client. A Watcher follows
// the EventBus until its client goes away.
//
// A Stream ends in one of two ways: it finishes its answer, or libevent tells it the
// connection closed (its close callback). In the second case libevent has detached the
// unfinished request from the connection, and the Stream hands it back with
// evhttp_send_reply_end(), which frees it.
#pragma once

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/types.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "cli/admin_server.h"
#include "common/metrics.h"
#include "common/unique_fd.h"
#include "net/event_handles.h"

namespace hato::cli {

using net::EvbufferPtr;
using net::EventPtr;
using net::EvhttpPtr;

// Not among libevent's HTTP_* constants.
inline constexpr int kHttpConflict = 409;
// A client that takes nothing of a pending answer for this long is gone.
inline constexpr timeval kStreamWriteTimeout = {30, 0};

// strerror() as a string.
std::string errno_text(int err);

// The reply helpers (admin_server.cc). Each sends the whole answer.
void send_body(evhttp_request* req, int code, const char* reason, const char* content_type,
               std::string_view body);
void send_json(evhttp_request* req, int code, const char* reason, std::string_view body);
// {"error":"..."} and a newline.
std::string error_json(std::string_view message);
// An error_json() answer, in place of anything a failed listing left in the output buffer.
void send_error(evhttp_request* req, int code, const char* reason, std::string_view message);
// 405 with an Allow header naming `allow`.
void send_bad_method(evhttp_request* req, const char* allow);

// Hands each parameter of `query` (null: none) to `take` in order. `take` returns "" to
// accept it or the reason to refuse it; unknown parameters are refused too (a mistyped
// filter must not list everything): unknown_parameter(key). On a refusal, or a query that
// does not parse, answers 400 with the reason and returns false.
bool read_query(
    evhttp_request* req, const char* query,
    const std::function<std::string(std::string_view key, std::string_view value)>& take);
std::string unknown_parameter(std::string_view key);

// The `queue tail` gauge (admin_queue.cc), registered when the server is made.
Gauge& watcher_gauge();

// A backup thread's state (admin_backup.cc).
struct BackupJob;

// What a route's handler is given besides the request.
struct RouteArgs {
  std::string_view path;
  std::string_view id;  // what the route pattern's "*" matched; empty without one
  const char* query;    // null without one
};

struct AdminServer::Impl {
  class Stream;
  class Scan;
  class ListScan;
  class SummaryScan;
  class FlushScan;
  class ReleaseUserScan;
  class Watcher;
  class Backup;
  class BlacklistCheck;
  class ClusterView;

  using Handler = void (Impl::*)(evhttp_request* req, const RouteArgs& args);
  // One endpoint: a path pattern (admin_route.h), the methods it takes (EVHTTP_REQ_* bits,
  // named in the 405's Allow header) and its handler. A route with `available` that answers
  // false is not there at all: 404, as for an unknown path.
  struct Route {
    std::string_view pattern;
    unsigned methods;
    Handler handler;
    bool (Impl::*available)() const = nullptr;
  };
  // In order: the first route whose pattern matches owns the path (admin_server.cc).
  static std::span<const Route> routes();

  Impl(hato::Loop& l, queue::Store& s, queue::EventBus& e, queue::QueueControl& c)
      : loop(l), store(s), events(e), control(c) {}
  ~Impl() {
    if (backup_thread.joinable()) backup_thread.join();  // the store must outlive the copy
  }

  std::function<std::string()> warmup_status;
  std::function<std::string()> events_status;
  std::function<Result<std::string>()> blacklist_status;
  std::function<void(std::function<void()>)> blacklist_check;
  std::function<std::string()> tls_report_send;
  std::function<Result<std::string>(const std::string&, int)> dmarc_summary;
  std::function<Result<std::string>()> users_reload;
  std::function<void(std::function<void(Result<std::string>)>)> cluster_nodes;
  policy::SuppressionList* suppression = nullptr;
  policy::UserBrake* brake = nullptr;

  Status listen(const std::string& path);
  void remove_socket_file();
  void close_streams();

  static void on_request(evhttp_request* req, void* arg);
  void handle(evhttp_request* req);

  // The handlers, by area. admin_queue.cc:
  void list(evhttp_request* req, const RouteArgs& args);
  void summary(evhttp_request* req, const RouteArgs& args);
  void tail(evhttp_request* req, const RouteArgs& args);
  void show(evhttp_request* req, const RouteArgs& args);
  void raw_message(evhttp_request* req, const RouteArgs& args);
  void headers(evhttp_request* req, const RouteArgs& args);
  void act(evhttp_request* req, const RouteArgs& args);
  void flush(evhttp_request* req, const RouteArgs& args);
  // admin_backup.cc:
  void backup(evhttp_request* req, const RouteArgs& args);
  // admin_blacklist.cc:
  void blacklist(evhttp_request* req, const RouteArgs& args);
  void blacklist_check_now(evhttp_request* req, const RouteArgs& args);
  // admin_cluster.cc:
  void cluster(evhttp_request* req, const RouteArgs& args);
  // admin_warmup.cc:
  void warmup(evhttp_request* req, const RouteArgs& args);
  // admin_events.cc:
  void webhooks(evhttp_request* req, const RouteArgs& args);
  // admin_tlsrpt.cc:
  bool has_tls_report_send() const { return static_cast<bool>(tls_report_send); }
  void tls_report(evhttp_request* req, const RouteArgs& args);
  // admin_dmarc.cc:
  bool has_dmarc_summary() const { return static_cast<bool>(dmarc_summary); }
  void dmarc(evhttp_request* req, const RouteArgs& args);
  // admin_users.cc:
  bool has_users_reload() const { return static_cast<bool>(users_reload); }
  void reload_users(evhttp_request* req, const RouteArgs& args);
  bool has_brake() const { return brake != nullptr; }
  void frozen_users(evhttp_request* req, const RouteArgs& args);
  void thaw_user(evhttp_request* req, const RouteArgs& args);
  // admin_queue.cc: releases `user`'s held mail, a slice of the store at a time, and answers
  // {"ok":true,"released":N}.
  void release_held_of(evhttp_request* req, std::string user);
  void user_baseline(evhttp_request* req, const RouteArgs& args);
  // admin_suppress.cc:
  bool has_suppression() const { return suppression != nullptr; }
  void suppress_list(evhttp_request* req, const RouteArgs& args);
  void suppress_add(evhttp_request* req, const RouteArgs& args);
  void suppress_remove(evhttp_request* req, const RouteArgs& args);

  // Takes ownership of a stream and starts it; the stream ends itself.
  void run(std::unique_ptr<Stream> stream);
  void forget(Stream* stream);

  hato::Loop& loop;
  queue::Store& store;
  queue::EventBus& events;
  queue::QueueControl& control;
  EvhttpPtr http;
  std::string socket_path;
  // The file we bound, so we never remove a successor's socket.
  dev_t socket_dev = 0;
  ino_t socket_ino = 0;
  std::map<Stream*, std::unique_ptr<Stream>> streams;
  size_t watchers = 0;
  // The backup running or last run. A client that goes away does not stop the copy, so its
  // thread belongs here: joined by the next backup, or when the server goes.
  std::shared_ptr<BackupJob> backup_job;
  std::thread backup_thread;
};

// Streams: answers that outlive the request callback.
class AdminServer::Impl::Stream {
 public:
  Stream(Impl& server, evhttp_request* req)
      : server_(server), req_(req), evcon_(evhttp_request_get_connection(req)) {}
  virtual ~Stream() = default;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // Called once by Impl::run(), with the stream in Impl::streams.
  void begin() {
    if (!evcon_) {
      // Cannot happen for a request still in its callback; end it cleanly if it does.
      server_.forget(this);
      return;
    }
    evhttp_connection_set_closecb(evcon_, &Stream::on_close, this);
    // No read timeout: the request has been read, and a long answer must not
    // be cut off because the client (rightly) sends nothing more.
    timeval write_timeout = this->write_timeout();
    bufferevent_set_timeouts(evhttp_connection_get_bufferevent(evcon_), nullptr, &write_timeout);
    start();
  }

  // The server is going away: let go of the connection without touching the
  // request, which evhttp_free() frees along with its connection.
  void abandon() {
    if (evcon_) evhttp_connection_set_closecb(evcon_, nullptr, nullptr);
    evcon_ = nullptr;
  }

 protected:
  virtual void start() = 0;
  virtual timeval write_timeout() const { return kStreamWriteTimeout; }
  // The output buffer has been written out; chunks sent with send_chunk() ask for this.
  virtual void drained() {}

  // Bytes queued on the connection and not yet written to the socket.
  size_t pending_output() const {
    if (!evcon_) return 0;
    return evbuffer_get_length(bufferevent_get_output(evhttp_connection_get_bufferevent(evcon_)));
  }

  void start_reply(const char* content_type) {
    evhttp_add_header(evhttp_request_get_output_headers(req_), "Content-Type", content_type);
    evhttp_send_reply_start(req_, HTTP_OK, "OK");
    reply_started_ = true;
  }

  // Sends (moves out) what `chunk` holds, as one chunk of a started reply.
  void send_chunk(evbuffer* chunk) {
    if (evbuffer_get_length(chunk) == 0) return;
    evhttp_send_reply_chunk_with_cb(req_, chunk, &Stream::on_drained, this);
  }
  void send_chunk(std::string_view text) {
    EvbufferPtr chunk(evbuffer_new());
    if (!chunk || evbuffer_add(chunk.get(), text.data(), text.size()) != 0) return;
    send_chunk(chunk.get());
  }

  // The last act of a stream that answers in one piece: sends it and deletes this.
  void reply_and_end(int code, const char* reason, std::string_view body) {
    detach();
    if (code == HTTP_OK) {
      send_json(req_, code, reason, body);
    } else {
      send_error(req_, code, reason, body);
    }
    server_.forget(this);
  }

  // The same with the body already in the request's output buffer.
  void reply_buffer_and_end(const char* content_type) {
    detach();
    evhttp_add_header(evhttp_request_get_output_headers(req_), "Content-Type", content_type);
    evhttp_send_reply(req_, HTTP_OK, "OK", nullptr);
    server_.forget(this);
  }

  // The last act of a started reply: ends it and deletes this.
  void end() {
    detach();
    evhttp_send_reply_end(req_);
    server_.forget(this);
  }

  Impl& server_;
  evhttp_request* req_;
  bool reply_started_ = false;

 private:
  // The connection no longer calls back into this stream.
  void detach() {
    if (evcon_) evhttp_connection_set_closecb(evcon_, nullptr, nullptr);
    evcon_ = nullptr;
  }

  static void on_close(evhttp_connection*, void* arg) {
    auto* self = static_cast<Stream*>(arg);
    self->evcon_ = nullptr;  // being freed
    // Detached by libevent (the client went away before the end): ours to free.
    if (evhttp_request_get_connection(self->req_) == nullptr) evhttp_send_reply_end(self->req_);
    self->server_.forget(self);
  }

  static void on_drained(evhttp_connection*, void* arg) { static_cast<Stream*>(arg)->drained(); }

  evhttp_connection* evcon_;
};

}  // namespace hato::cli
