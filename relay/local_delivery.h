// local_delivery.h - delivery to this host's own mailboxes (Maildir), behind an interface so
// the engine neither writes files itself nor blocks its loop on fsync. LMTP, the other local
// delivery, is an SMTP-like conversation and goes through the engine's attempts.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/loop.h"
#include "common/worker_pool.h"
#include "conf/config.h"
#include "relay/client_session.h"

namespace hato::relay {

struct LocalRequest {
  std::string id;  // queue ID, for logs
  std::shared_ptr<const std::string> data;
  std::string sender;
  std::string folder;                  // the envelope's folder ("" for the inbox)
  std::vector<std::string> addresses;  // recipients in local domains
  conf::ConfigPtr config;              // aliases and the Maildir root, as when it started
};

class LocalDelivery {
 public:
  virtual ~LocalDelivery() = default;
  // `done` runs later on the loop, with one reply per address in order.
  virtual void deliver(LocalRequest request, std::function<void(TransactionResult)> done) = 0;
};

// Maildir writes (which fsync) on the worker pool; TLS reports sent to our rua are read
// (RFC 8460) once they are in a mailbox.
std::unique_ptr<LocalDelivery> make_maildir_delivery(Loop& loop, WorkerPool& workers);

}  // namespace hato::relay
