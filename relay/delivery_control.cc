// delivery_control.cc - the operator's actions on queued mail (queue::QueueControl): hold,
// release, flush, delete and bounce. A message being delivered right now is acted on when
// its attempt ends (write_back), so no result is lost or applied twice.
#include "common/log.h"
#include "policy/mail/message_header.h"
#include "queue/event_log.h"
#include "relay/delivery.h"

namespace hato::relay {

Status DeliveryEngine::hold(const queue::QueueId& id) {
  if (in_flight_.count(id)) {
    pending_ops_[id] = Pending::kHold;
    return Status::ok();
  }
  auto env = store_.envelope(id);
  if (!env) return env.status();
  if (env->state == queue::MessageState::kHeld) return Status::ok();
  env->state = queue::MessageState::kHeld;
  queue::QueueEvent held = operator_event("held", id, *env, "held by the operator");
  if (auto s = store_.update_with(id, *env, outbox({held})); !s) return s;
  scheduler_.remove(id);
  ++held_;
  events_.publish(held);
  queue::log_event(log::Level::kInfo, "held", held);
  return Status::ok();
}

Status DeliveryEngine::release(const queue::QueueId& id) {
  if (in_flight_.count(id)) {
    pending_ops_.erase(id);  // a hold not yet applied is simply dropped
    return Status::ok();
  }
  auto env = store_.envelope(id);
  if (!env) return env.status();
  if (env->state != queue::MessageState::kHeld)
    return Status::error("message " + id.str() + " is not held");
  env->state = queue::MessageState::kQueued;
  env->next_attempt_ms = log::now_ms();
  queue::QueueEvent released = operator_event("released", id, *env, "released by the operator");
  if (auto s = store_.update_with(id, *env, outbox({released})); !s) return s;
  if (held_) --held_;
  events_.publish(released);
  queue::log_event(log::Level::kInfo, "released", released);
  schedule(id, env->next_attempt_ms);
  return Status::ok();
}

Status DeliveryEngine::flush(const queue::QueueId& id) {
  if (in_flight_.count(id)) {
    // Being tried right now: if it is deferred again, it comes due at once.
    pending_ops_.try_emplace(id, Pending::kFlush);
    return Status::ok();
  }
  if (!scheduler_.contains(id)) {
    auto env = store_.envelope(id);
    if (!env) return env.status();
    if (env->state == queue::MessageState::kHeld)
      return Status::error("message " + id.str() + " is held; release it to deliver it");
  }
  schedule(id, log::now_ms());
  return Status::ok();
}

size_t DeliveryEngine::flush_all() {
  // Destinations marked down get another chance too.
  for (auto& [name, dest] : destinations_) dest->down_until_ms = 0;
  for (const auto& id : in_flight_) pending_ops_.try_emplace(id, Pending::kFlush);
  size_t n = scheduler_.flush_all(log::now_ms()) + in_flight_.size();
  arm();
  return n;
}

Status DeliveryEngine::remove(const queue::QueueId& id) {
  if (in_flight_.count(id)) {
    pending_ops_[id] = Pending::kRemove;
    return Status::ok();
  }
  auto env = store_.envelope(id);
  if (!env) return env.status();
  // Made first: the Message-ID is read from the message.
  queue::QueueEvent deleted = operator_event("deleted", id, *env, "deleted by the operator");
  if (auto s = store_.remove_with(id, outbox({deleted})); !s) return s;
  if (env->state == queue::MessageState::kHeld && held_) --held_;
  scheduler_.remove(id);
  events_.publish(deleted);
  queue::log_event(log::Level::kInfo, "deleted", deleted);
  return Status::ok();
}

Status DeliveryEngine::bounce(const queue::QueueId& id) {
  if (in_flight_.count(id)) {
    pending_ops_[id] = Pending::kBounce;
    return Status::ok();
  }
  auto env = store_.envelope(id);
  if (!env) return env.status();
  auto data = store_.message(id);
  if (!data) return data.status();
  if (env->state == queue::MessageState::kHeld && held_) --held_;
  scheduler_.remove(id);
  auto work = std::make_shared<MessageWork>();
  work->id = id;
  work->envelope = std::move(env.value());
  work->data = std::make_shared<const std::string>(std::move(data.value()));
  work->message_id = mail::header_value(*work->data, "Message-ID");
  in_flight_.insert(id);
  fail_pending(*work, "5.0.0 returned to the sender by the operator");
  finalize(work);
  return Status::ok();
}

}  // namespace hato::relay
