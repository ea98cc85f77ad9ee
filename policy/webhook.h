// webhook.h - JSON POSTs to an http:// URL on the loop, for the blacklist monitor's
// notifications.
//
// The host name is looked up with relay::Resolver (never the blocking getaddrinfo), then
// libevent's HTTP client POSTs to the address with the name in the Host header. Each POST
// has 10 seconds; failures are logged and reported to the caller, never retried here. No
// libevent header leaks out of here.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/loop.h"
#include "conf/config.h"
#include "relay/resolver.h"

namespace hato::policy {

class WebhookSender {
 public:
  // `resolver` must outlive the sender.
  WebhookSender(Loop& loop, relay::Resolver& resolver);
  // POSTs in flight are abandoned; their `done` is not called.
  ~WebhookSender();
  WebhookSender(const WebhookSender&) = delete;
  WebhookSender& operator=(const WebhookSender&) = delete;

  // `done` (optional) runs later on the loop with the HTTP status, or 0 and the reason when
  // there was no answer.
  void post(const conf::HttpUrl& url, std::string json,
            std::function<void(int status, const std::string& error)> done = {});
  size_t in_flight() const;

  struct Request;

 private:
  void send(Request* request, const SocketAddress& to);
  void finish(Request* request, int status, std::string error);

  Loop& loop_;
  relay::Resolver& resolver_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  std::map<Request*, std::unique_ptr<Request>> requests_;
};

}  // namespace hato::policy
