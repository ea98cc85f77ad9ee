// redis_client.cc - RESP2 over a libevent bufferevent.
#include "common/redis_client.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include <charconv>

#include "common/log.h"

namespace hato {

namespace {

constexpr auto kMaxBackoff = std::chrono::milliseconds(2000);
// A server that stops answering (SIGSTOP, a dead peer behind a firewall) is given up on
// after this long with commands outstanding; their callers hear an error.
constexpr timeval kReadTimeout = {3, 0};
constexpr size_t kMaxDepth = 8;  // nested arrays; ours are two deep

long parse_at(std::string_view data, RedisReply* out, size_t depth) {
  if (depth > kMaxDepth) return -1;
  size_t eol = data.find("\r\n");
  if (eol == std::string_view::npos) return data.size() > 1024 ? -1 : 0;
  if (eol == 0) return -1;
  char kind = data[0];
  std::string_view line = data.substr(1, eol - 1);
  long used = static_cast<long>(eol + 2);
  auto number = [&](int64_t* n) {
    auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), *n);
    return ec == std::errc() && p == line.data() + line.size();
  };
  switch (kind) {
    case '+':
    case '-':
      out->type = kind == '+' ? RedisReply::Type::kStatus : RedisReply::Type::kError;
      out->text = std::string(line);
      return used;
    case ':':
      out->type = RedisReply::Type::kInteger;
      return number(&out->integer) ? used : -1;
    case '$': {
      int64_t n = 0;
      if (!number(&n) || n < -1) return -1;
      if (n == -1) {
        out->type = RedisReply::Type::kNil;
        return used;
      }
      if (data.size() < static_cast<size_t>(used) + static_cast<size_t>(n) + 2) return 0;
      out->type = RedisReply::Type::kBulk;
      out->text = std::string(data.substr(static_cast<size_t>(used), static_cast<size_t>(n)));
      return used + n + 2;
    }
    case '*': {
      int64_t n = 0;
      if (!number(&n) || n < -1) return -1;
      if (n == -1) {
        out->type = RedisReply::Type::kNil;
        return used;
      }
      out->type = RedisReply::Type::kArray;
      out->elements.clear();
      for (int64_t i = 0; i < n; ++i) {
        RedisReply element;
        long took = parse_at(data.substr(static_cast<size_t>(used)), &element, depth + 1);
        if (took <= 0) return took;
        used += took;
        out->elements.push_back(std::move(element));
      }
      return used;
    }
    default:
      return -1;
  }
}

RedisReply error_reply(std::string text) {
  RedisReply r;
  r.type = RedisReply::Type::kError;
  r.text = std::move(text);
  return r;
}

}  // namespace

long parse_redis_reply(std::string_view data, RedisReply* out) {
  return parse_at(data, out, 0);
}

RedisClient::RedisClient(Loop& loop, SocketAddress server)
    : loop_(loop), server_(std::move(server)), retry_(loop, [this] { connect(); }) {}

RedisClient::~RedisClient() {
  if (bev_) bufferevent_free(bev_);
}

void RedisClient::start() {
  connect();
}

void RedisClient::connect() {
  if (bev_ || connecting_) return;
  bev_ = bufferevent_socket_new(loop_.base(), -1, BEV_OPT_CLOSE_ON_FREE);
  if (!bev_) {
    lost("cannot make a socket");
    return;
  }
  bufferevent_setcb(bev_, on_read, nullptr, on_event, this);
  bufferevent_enable(bev_, EV_READ | EV_WRITE);
  connecting_ = true;
  if (bufferevent_socket_connect(bev_, const_cast<sockaddr*>(server_.sa()),
                                 static_cast<int>(server_.length)) != 0) {
    connecting_ = false;
    lost("connection refused");
  }
}

void RedisClient::lost(const std::string& why) {
  bool was_up = connected_;
  connected_ = false;
  connecting_ = false;
  if (bev_) {
    bufferevent_free(bev_);
    bev_ = nullptr;
  }
  in_.clear();
  std::deque<Callback> failed;
  failed.swap(pending_);
  for (auto& cb : failed) cb(error_reply("ERR connection to redis lost: " + why));
  if (was_up) {
    log::warning("redis connection lost, sharing paused",
                 {{"redis", server_.to_string()}, {"reason", why}});
    if (on_down_) on_down_(why);
  } else if (!warned_) {
    // Once until it answers: a redis that is down at start retries quietly after this.
    log::warning("cannot reach redis, retrying", {{"redis", server_.to_string()}, {"reason", why}});
  }
  warned_ = true;
  retry_.arm(backoff_);
  backoff_ = std::min(kMaxBackoff, backoff_ * 2);
}

void RedisClient::on_event(bufferevent*, short what, void* arg) {
  auto* self = static_cast<RedisClient*>(arg);
  if (what & BEV_EVENT_CONNECTED) {
    self->connecting_ = false;
    bufferevent_set_timeouts(self->bev_, &kReadTimeout, nullptr);
    if (self->password_.empty()) return self->up();
    std::vector<std::string> auth{"AUTH"};
    if (!self->user_.empty()) auth.push_back(self->user_);
    auth.push_back(self->password_);
    self->send(auth, [self](const RedisReply& r) {
      if (r.ok()) {
        self->auth_warned_ = false;
        return self->up();
      }
      if (!self->auth_warned_) {
        // Said once: a wrong password in the configuration does not fix itself.
        log::error("redis refused the password of cluster.redis; not sharing until it accepts it",
                   {{"redis", self->server_.to_string()}, {"reason", r.text}});
      }
      self->auth_warned_ = true;
      if (self->bev_) self->lost("AUTH refused: " + r.text);
    });
    return;
  }
  if (what & BEV_EVENT_TIMEOUT) {
    if (self->pending_.empty()) {  // idle is fine
      bufferevent_enable(self->bev_, EV_READ);
      return;
    }
    self->lost("no answer in 3 seconds");
    return;
  }
  if (what & BEV_EVENT_EOF) return self->lost("closed by the server");
  if (what & BEV_EVENT_ERROR) {
    return self->lost(self->connected_ ? "connection error" : "cannot connect");
  }
}

void RedisClient::up() {
  connected_ = true;
  warned_ = false;
  backoff_ = std::chrono::milliseconds(100);
  log::info("redis connected", {{"redis", server_.to_string()}});
  if (on_up_) on_up_();
}

void RedisClient::on_read(bufferevent* bev, void* arg) {
  auto* self = static_cast<RedisClient*>(arg);
  evbuffer* input = bufferevent_get_input(bev);
  size_t n = evbuffer_get_length(input);
  size_t old = self->in_.size();
  self->in_.resize(old + n);
  evbuffer_remove(input, self->in_.data() + old, n);
  size_t at = 0;
  while (at < self->in_.size()) {
    RedisReply reply;
    long took = parse_redis_reply(std::string_view(self->in_).substr(at), &reply);
    if (took == 0) break;
    if (took < 0 || self->pending_.empty()) {
      self->lost(took < 0 ? "not a redis reply" : "a reply nobody asked for");
      return;
    }
    at += static_cast<size_t>(took);
    Callback cb = std::move(self->pending_.front());
    self->pending_.pop_front();
    cb(reply);
    if (!self->bev_) return;  // the callback's work lost the connection
  }
  self->in_.erase(0, at);
}

void RedisClient::command(std::vector<std::string> args, Callback cb) {
  if (!connected_) {
    loop_.after(std::chrono::milliseconds(0),
                [cb = std::move(cb)] { cb(error_reply("ERR not connected to redis")); });
    return;
  }
  send(args, std::move(cb));
}

// send - writes a command whether or not the connection is up yet (AUTH goes first).
void RedisClient::send(const std::vector<std::string>& args, Callback cb) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto& a : args) {
    out += "$" + std::to_string(a.size()) + "\r\n";
    out += a;
    out += "\r\n";
  }
  pending_.push_back(std::move(cb));
  bufferevent_write(bev_, out.data(), out.size());
}

void RedisClient::eval(std::string_view script, const std::vector<std::string>& keys,
                       const std::vector<std::string>& args, Callback cb) {
  std::vector<std::string> all{"EVAL", std::string(script), std::to_string(keys.size())};
  all.insert(all.end(), keys.begin(), keys.end());
  all.insert(all.end(), args.begin(), args.end());
  command(std::move(all), std::move(cb));
}

}  // namespace hato
