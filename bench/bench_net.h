// bench_net.h - what smtpload_tls and smtpsink_tls share: owners for the libevent and
// OpenSSL handles, a HOST:PORT parser and a monotonic clock. Benchmark tools only.
#pragma once

#include <arpa/inet.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <openssl/ssl.h>

#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <string>

namespace bench {

struct BaseFree {
  void operator()(event_base* b) const { event_base_free(b); }
};
struct EventFree {
  void operator()(event* e) const { event_free(e); }
};
struct BevFree {
  void operator()(bufferevent* b) const { bufferevent_free(b); }
};
struct ListenerFree {
  void operator()(evconnlistener* l) const { evconnlistener_free(l); }
};
struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SessionFree {
  void operator()(SSL_SESSION* s) const { SSL_SESSION_free(s); }
};
using Base = std::unique_ptr<event_base, BaseFree>;
using Event = std::unique_ptr<event, EventFree>;
using Bev = std::unique_ptr<bufferevent, BevFree>;
using Listener = std::unique_ptr<evconnlistener, ListenerFree>;
using SslCtx = std::unique_ptr<SSL_CTX, SslCtxFree>;
using SslSession = std::unique_ptr<SSL_SESSION, SessionFree>;

inline double mono() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}
inline double wall() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// parse_ipv4 - "127.0.0.1:2525" into a sockaddr_in; nothing on a malformed address.
inline std::optional<sockaddr_in> parse_ipv4(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  char* end = nullptr;
  long port = std::strtol(text.c_str() + colon + 1, &end, 10);
  if (*end != 0 || port < 0 || port > 65535) return std::nullopt;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, text.substr(0, colon).c_str(), &a.sin_addr) != 1) return std::nullopt;
  return a;
}

}  // namespace bench
