// control.h - what an operator can do to queued mail (Postfix's postsuper and
// postqueue -f), implemented by the delivery engine, used by the admin API.
// All calls on the main loop.
#pragma once

#include <string>

#include "common/status.h"
#include "queue/queue_id.h"

namespace hato::queue {

class QueueControl {
 public:
  virtual ~QueueControl() = default;
  // Held mail is never tried and never expires until released.
  virtual Status hold(const QueueId& id) = 0;
  virtual Status release(const QueueId& id) = 0;  // queued again, due now
  virtual Status flush(const QueueId& id) = 0;    // due now
  virtual size_t flush_all() = 0;                 // every deferred message due now
  virtual Status remove(const QueueId& id) = 0;   // deleted without notice
  virtual Status bounce(const QueueId& id) = 0;   // pending recipients fail, DSN to the sender
};

}  // namespace hato::queue
