// redis_client.h - a RESP2 client on the event loop (issue 12): pipelined commands, replies
// parsed as they arrive, reconnection with backoff. Never blocks: every answer comes by
// callback on the loop's thread, and a lost connection answers what was pending with an
// error, so a caller always hears back.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/loop.h"
#include "common/net.h"

struct bufferevent;

namespace hato {

struct RedisReply {
  enum class Type { kStatus, kError, kInteger, kBulk, kNil, kArray };
  Type type = Type::kNil;
  std::string text;  // status, error or bulk
  int64_t integer = 0;
  std::vector<RedisReply> elements;
  bool ok() const { return type != Type::kError; }
};

// Parses one reply from the front of `data`: the bytes it took, 0 when the reply is not
// complete yet, or -1 when the data is not RESP2.
long parse_redis_reply(std::string_view data, RedisReply* out);

class RedisClient {
 public:
  using Callback = std::function<void(const RedisReply&)>;
  RedisClient(Loop& loop, SocketAddress server);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // AUTH at each connection (before anything else is sent); `user` may be empty.
  void set_auth(std::string user, std::string password) {
    user_ = std::move(user);
    password_ = std::move(password);
  }
  void start();
  bool connected() const { return connected_; }
  const SocketAddress& server() const { return server_; }
  // Called each time a connection is made, and each time one is lost.
  void on_up(std::function<void()> fn) { on_up_ = std::move(fn); }
  void on_down(std::function<void(const std::string& why)> fn) { on_down_ = std::move(fn); }
  // Sends a command, each argument a bulk string. Without a connection `cb` gets an
  // error reply soon (on the loop, never from inside this call).
  void command(std::vector<std::string> args, Callback cb);
  // EVAL of a Lua script: redis runs it atomically.
  void eval(std::string_view script, const std::vector<std::string>& keys,
            const std::vector<std::string>& args, Callback cb);

 private:
  static void on_read(bufferevent* bev, void* arg);
  static void on_event(bufferevent* bev, short what, void* arg);
  void connect();
  void lost(const std::string& why);
  void up();
  void send(const std::vector<std::string>& args, Callback cb);

  Loop& loop_;
  SocketAddress server_;
  bufferevent* bev_ = nullptr;
  bool connected_ = false;
  bool connecting_ = false;
  bool warned_ = false;  // "cannot reach redis" said since the last connection
  std::chrono::milliseconds backoff_{100};
  Timer retry_;
  std::string user_, password_;
  bool auth_warned_ = false;  // "redis refused the password" said since the last success
  std::string in_;
  std::deque<Callback> pending_;
  std::function<void()> on_up_;
  std::function<void(const std::string&)> on_down_;
};

}  // namespace hato
