// metrics_server.h - GET /metrics in the Prometheus text format, over TCP.
//
// Serves metrics().render() on `admin.metrics` (INTERFACE.md). Anything else
// is 404, any other method 405. Scrapes run on the loop, so callback gauges
// may read loop-owned state. No libevent header leaks out of here.
#pragma once

#include <memory>

#include "common/loop.h"
#include "common/net.h"
#include "common/status.h"

namespace hato::cli {

class MetricsServer {
 public:
  explicit MetricsServer(hato::Loop& loop);  // the loop must outlive the server
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Binds `address` (port 0: the kernel picks one) and serves on it; logs
  // `metrics listening address=IP:PORT` with the port actually bound.
  [[nodiscard]] hato::Status listen(const hato::SocketAddress& address);
  // The bound address, once listening.
  const hato::SocketAddress& address() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hato::cli
