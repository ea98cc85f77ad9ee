// admin_cluster.cc - GET /v1/cluster: every node's view of the cluster (admin_server.h).
#include <event2/http.h>

#include <memory>

#include "cli/admin_impl.h"

namespace hato::cli {

// GET /v1/cluster: every live node's view, as each last wrote it to redis.
class AdminServer::Impl::ClusterView : public Stream {
 public:
  using Stream::Stream;

 protected:
  void start() override {
    std::weak_ptr<int> alive = alive_;
    server_.cluster_nodes([this, alive](Result<std::string> nodes) {
      if (alive.expired()) return;
      if (!nodes) {
        return reply_and_end(HTTP_SERVUNAVAIL, "Service Unavailable",
                             "redis cannot be reached: " + nodes.message());
      }
      reply_and_end(HTTP_OK, "OK", *nodes);
    });
  }

 private:
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

void AdminServer::Impl::cluster(evhttp_request* req, const RouteArgs&) {
  if (!cluster_nodes) {
    return send_error(req, kHttpConflict, "Conflict",
                      "this node is not in a cluster (cluster in hato.yaml)");
  }
  run(std::make_unique<ClusterView>(*this, req));
}

}  // namespace hato::cli
