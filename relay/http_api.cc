// http_api.cc - POST /v1/messages: authenticate, read, then one Transaction, as SMTP does.
#include "relay/http_api.h"

#include <openssl/rand.h>
#include <strings.h>

#include <variant>

#include "common/log.h"
#include "common/strings.h"
#include "queue/state_keys.h"
#include "relay/http_submission.h"
#include "relay/relay_metrics.h"

namespace hato::relay {

namespace {

using policy::Verdict;

constexpr size_t kMaxIdempotencyKey = 255;
constexpr int64_t kRetryLaterS = 60;  // a passing refusal that knows no better time

net::HttpServerResponse json(int status, std::string body) {
  return {status,
          {{"Content-Type", "application/json"}, {"Cache-Control", "no-store"}},
          std::move(body)};
}

net::HttpServerResponse error_response(const ApiError& e) {
  net::HttpServerResponse r = json(e.status, error_json(e));
  if (e.status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"hato\"");
  if (e.retry_after_s > 0) r.headers.emplace_back("Retry-After", std::to_string(e.retry_after_s));
  return r;
}

std::string random_hex(size_t bytes) {
  unsigned char raw[32];
  bytes = std::min(bytes, sizeof raw);
  if (RAND_bytes(raw, static_cast<int>(bytes)) != 1) return std::to_string(log::now_ms());
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes; ++i) {
    out += kHex[raw[i] >> 4];
    out += kHex[raw[i] & 15];
  }
  return out;
}

// The SMTP reply that refused a step, as the API's answer. `field` names what was refused.
ApiError refusal(const Verdict& v, const char* code, const std::string& field) {
  std::string text = std::to_string(v.code) + " " + v.text;
  if (v.kind == Verdict::Kind::kReply && v.code >= 500) return {422, code, text, field, 0};
  // A user's quota (451 4.7.1 with the reset time) is the client's to wait for: 429.
  if (v.retry_after_s > 0 && v.text.rfind("4.7.1", 0) == 0)
    return {429, "rate_limited", text, "", v.retry_after_s};
  return {503, "unavailable", text, "", v.retry_after_s > 0 ? v.retry_after_s : kRetryLaterS};
}

// The media type of Content-Type, lower case, without parameters.
std::string media_type(const net::HttpServerRequest& request) {
  std::string type = request.header("content-type");
  return ascii_lower(trim(std::string_view(type).substr(0, type.find(';'))));
}

// What the hooks see of an HTTP request: a TLS session of an authenticated user.
policy::SessionInfo session_of(const std::string& listener, const net::HttpServerRequest& request,
                               const std::string& user) {
  policy::SessionInfo info;
  info.listener = listener;
  info.role = conf::ListenerRole::kHttp;
  info.peer = request.peer;
  info.helo = "[" + request.peer.ip() + "]";  // an address literal: HTTP has no EHLO
  info.tls = true;
  info.tls_version = request.tls_version;
  info.tls_cipher = request.tls_cipher;
  info.auth_user = user;
  return info;
}

}  // namespace

// One request from authentication to answer: MAIL, each RCPT, then DATA and the commit.
class HttpApi::Submission : public std::enable_shared_from_this<Submission> {
 public:
  Submission(HttpApi& api, ApiSubmission submission, policy::SessionInfo info,
             net::HttpResponder respond, std::string idempotency, std::string fingerprint)
      : api_(api),
        alive_(api.alive_),
        config_(api.config_),
        info_(std::move(info)),
        tx_(api.committer_, api.hooks_, info_),
        submission_(std::move(submission)),
        respond_(std::move(respond)),
        idempotency_(std::move(idempotency)),
        fingerprint_(std::move(fingerprint)),
        in_flight_(api.in_flight_) {
    ++*in_flight_;
  }
  ~Submission() { --*in_flight_; }

  void start() {
    auto self = shared_from_this();
    tx_.mail(*config_, submission_.mail, [self](Verdict v) {
      if (v.kind != Verdict::Kind::kContinue)
        return self->fail(refusal(v, "sender_refused", "from"));
      self->next_recipient();
    });
  }

 private:
  // The recipients one after another. Most checks answer at once, inside tx_.rcpt(): such an
  // answer only tells the loop below to go on, so that 20,000 recipients are a loop, not
  // 20,000 nested calls; an answer that comes later (DNS, redis) starts the loop again.
  void next_recipient() {
    if (in_loop_) {
      go_on_ = true;
      return;
    }
    in_loop_ = true;
    do {
      go_on_ = false;
      if (next_ == submission_.rcpts.size()) {
        in_loop_ = false;
        return commit();
      }
      auto self = shared_from_this();
      tx_.rcpt(*config_, submission_.rcpts[next_], [self](Verdict v) {
        if (v.kind != Verdict::Kind::kContinue)
          return self->fail(
              refusal(v, "recipient_refused", self->submission_.rcpt_fields[self->next_]));
        ++self->next_;
        self->next_recipient();
      });
    } while (go_on_);
    in_loop_ = false;
  }

  void commit() {
    auto self = shared_from_this();
    tx_.body() = std::move(submission_.message);
    Transaction::Records records;
    if (!idempotency_.empty()) {
      records = [self](const std::string& id) {
        IdempotentAnswer answer{log::now_ms(), self->fingerprint_, 202, accepted_body(id)};
        return queue::Store::StateRecords{{self->idempotency_, IdempotencyKeys::encode(answer)}};
      };
    }
    tx_.commit(
        *config_,
        [self](Verdict v, const std::string& id) {
          if (v.kind != Verdict::Kind::kContinue)
            return self->fail(refusal(v, "message_refused", "message"));
          self->finish();
          self->respond_(json(202, accepted_body(id)));
        },
        std::move(records));
  }

  static std::string accepted_body(const std::string& id) {
    std::string body = "{";
    log::append_json_string(body, "id");
    body += ':';
    log::append_json_string(body, id);
    return body + "}\n";
  }

  void fail(const ApiError& error) {
    log::info("http submission refused", {{"peer", info_.peer.to_string()},
                                          {"listener", info_.listener},
                                          {"user", info_.auth_user},
                                          {"status", std::to_string(error.status)},
                                          {"reason", error.message}});
    finish();
    respond_(error_response(error));
  }

  void finish() {
    if (*alive_ && !idempotency_.empty()) api_.idempotency_.end(idempotency_);
  }

  HttpApi& api_;
  std::shared_ptr<bool> alive_;
  conf::ConfigPtr config_;  // the one this request started with, alive until it is answered
  policy::SessionInfo info_;
  Transaction tx_;
  ApiSubmission submission_;
  net::HttpResponder respond_;
  std::string idempotency_;  // the state key, or ""
  std::string fingerprint_;
  size_t next_ = 0;
  bool in_loop_ = false;  // next_recipient() is running its loop
  bool go_on_ = false;    // a recipient was accepted from inside the loop
  std::shared_ptr<size_t> in_flight_;
};

HttpApi::HttpApi(Loop& loop, conf::ConfigPtr config, Committer& committer,
                 const policy::HookChain& hooks, queue::Store& store)
    : loop_(loop),
      config_(std::move(config)),
      committer_(committer),
      hooks_(hooks),
      idempotency_(store) {}

HttpApi::~HttpApi() {
  *alive_ = false;
}

Status HttpApi::reload_keys() {
  auto fresh = policy::ApiKeyDb::load(policy::api_keys_path(config_->users_file));
  if (!fresh) return fresh.status();
  keys_ = *fresh;
  log::info("api keys loaded", {{"file", policy::api_keys_path(config_->users_file)},
                                {"keys", std::to_string(keys_->keys().size())}});
  return Status::ok();
}

void HttpApi::sweep() {
  size_t removed = idempotency_.sweep(log::now_ms());
  if (removed) log::info("idempotency keys expired", {{"count", std::to_string(removed)}});
  sweeper_->arm(std::chrono::hours(1));
}

Status HttpApi::listen(std::shared_ptr<net::TlsContext> tls) {
  tls_ = std::move(tls);
  for (const auto& listener : config_->listeners) {
    if (listener.role != conf::ListenerRole::kHttp) continue;
    if (!tls_)
      return Status::error("listener " + listener.name +
                           " (role http) needs a certificate: tls.certificate or tls.acme");
    if (!keys_) {
      if (Status s = reload_keys(); !s) return s;
      keys_watch_.emplace(loop_, "api keys file", [this] { return reload_keys(); });
      keys_watch_->watch({policy::api_keys_path(config_->users_file)});
      sweeper_.emplace(loop_, [this] { sweep(); });
      sweeper_->arm(std::chrono::seconds(1));
    }
    net::HttpServerOptions options;
    options.name = listener.name;
    // Attachments arrive in base64 inside JSON: a third more than the message they make.
    options.parse.max_body = config_->limits.max_message_size / 3 * 4 + 64 * 1024;
    options.tls = [this] { return tls_ ? tls_->new_ssl() : nullptr; };
    options.refusal = [](int status, const std::string& reason) {
      return error_response({status, status == 413 ? "too_large" : "bad_request", reason, "", 0});
    };
    std::string name = listener.name;
    auto server = std::make_unique<net::HttpServer>(
        loop_, std::move(options),
        [this, name](net::HttpServerRequest& request, net::HttpResponder respond) {
          handle(name, request, std::move(respond));
        });
    if (Status s = server->listen(listener.address); !s)
      return Status::error("cannot listen on " + listener.address.to_string() + " (" +
                           listener.name + "): " + s.message());
    log::info("listening", {{"listener", listener.name},
                            {"address", server->address().to_string()},
                            {"role", "http"},
                            {"tls", "implicit"}});
    servers_.push_back(std::move(server));
  }
  return Status::ok();
}

void HttpApi::handle(const std::string& listener, net::HttpServerRequest& request,
                     net::HttpResponder respond) {
  auto refuse = [&](ApiError e) {
    log::info("http request refused", {{"peer", request.peer.to_string()},
                                       {"listener", listener},
                                       {"status", std::to_string(e.status)},
                                       {"reason", e.message}});
    respond(error_response(e));
  };
  if (request.path != "/v1/messages")
    return refuse({404, "not_found", "no such resource: POST /v1/messages sends mail", "", 0});
  if (request.method != "POST") {
    auto r = error_response({405, "method_not_allowed", "use POST", "", 0});
    r.headers.emplace_back("Allow", "POST");
    return respond(std::move(r));
  }
  std::string authorization = request.header("authorization");
  std::optional<std::string> user;
  if (authorization.size() > 7 && strncasecmp(authorization.c_str(), "Bearer ", 7) == 0)
    user = keys_->user_of(trim(std::string_view(authorization).substr(7)));
  if (!user) {
    m::auth_failures(listener).inc();
    return refuse({401, "unauthorized",
                   authorization.empty() ? "an API key is required: Authorization: Bearer <key>"
                                         : "the API key is not valid",
                   "", 0});
  }
  std::string key;
  std::string fingerprint;
  if (std::string presented = request.header("idempotency-key"); !presented.empty()) {
    if (presented.size() > kMaxIdempotencyKey)
      return refuse(
          {400, "invalid_field", "Idempotency-Key: at most 255 characters", "Idempotency-Key", 0});
    key = IdempotencyKeys::key(*user, presented);
    fingerprint = policy::sha256_hex(request.target + "\n" + request.body);
    if (auto earlier = idempotency_.find(key, log::now_ms())) {
      if (earlier->fingerprint != fingerprint)
        return refuse({422, "idempotency_key_reused",
                       "this Idempotency-Key was used with a different request", "", 0});
      auto r = json(earlier->status, earlier->body);
      r.headers.emplace_back("Idempotent-Replayed", "true");
      return respond(std::move(r));
    }
    if (!idempotency_.begin(key))
      return refuse({409, "idempotency_key_in_use",
                     "a request with this Idempotency-Key is still being decided", "", 0});
  }
  size_t max_size = config_->limits.max_message_size;
  std::string type = media_type(request);
  ApiRead read = type == "application/json"
                     ? read_json_submission(request.body, random_hex(12), max_size)
                 : type == "message/rfc822" ? read_raw_submission(request, max_size)
                                            : ApiRead(ApiError{415, "unsupported_media_type",
                                                               "Content-Type must be "
                                                               "application/json or "
                                                               "message/rfc822",
                                                               "", 0});
  if (auto* e = std::get_if<ApiError>(&read)) {
    if (!key.empty()) idempotency_.end(key);
    return refuse(*e);
  }
  auto& submission = std::get<ApiSubmission>(read);
  if (submission.rcpts.size() > config_->limits.max_recipients) {
    if (!key.empty()) idempotency_.end(key);
    return refuse({400, "invalid_field",
                   "to: more than " + std::to_string(config_->limits.max_recipients) +
                       " recipients (limits.max_recipients)",
                   "to", 0});
  }
  std::make_shared<Submission>(*this, std::move(submission), session_of(listener, request, *user),
                               std::move(respond), std::move(key), std::move(fingerprint))
      ->start();
}

}  // namespace hato::relay
