// delivery.cc - the delivery engine's core: the schedule, messages split into jobs by
// destination, and each destination's connections (the pool, with egress addresses).
#include "relay/delivery.h"

#include <algorithm>
#include <fstream>

#include "common/log.h"
#include "common/strings.h"
#include "policy/mail/message_header.h"
#include "policy/submission.h"
#include "relay/attempt.h"
#include "relay/connection_plan.h"
#include "relay/mta_sts.h"

namespace hato::relay {

DeliveryEngine::DeliveryEngine(Loop& loop, conf::ConfigPtr config, queue::Store& store,
                               Enqueuer& enqueuer, net::Resolver& resolver, Connector& connector,
                               LocalDelivery& local, queue::EventBus& events,
                               policy::Limiter* limiter, DeliveryOptions options)
    : loop_(loop),
      config_(std::move(config)),
      store_(store),
      enqueuer_(enqueuer),
      resolver_(resolver),
      connector_(connector),
      local_(local),
      events_(events),
      limiter_(limiter),
      options_(options),
      retry_(config_->delivery.retry),
      bounces_(config_->bounce_rules),
      timer_(loop, [this] { pump(); }) {}

DeliveryEngine::~DeliveryEngine() {
  stopping_ = true;
  for (Attempt* a : attempts_) delete a;
  for (Attempt* a : closing_) delete a;
}

namespace {
Result<std::string> read_password(const conf::Config& config) {
  if (!config.delivery.smarthost || config.delivery.smarthost->password_file.empty())
    return std::string();
  const std::string& path = config.delivery.smarthost->password_file;
  std::ifstream in(path);
  if (!in) return Result<std::string>::error("cannot read " + path);
  std::string password;
  std::getline(in, password);
  while (!password.empty() && (password.back() == '\r' || password.back() == ' '))
    password.pop_back();
  return password;
}
}  // namespace

Status DeliveryEngine::set_config(conf::ConfigPtr config) {
  auto password = read_password(*config);
  if (!password) return password.status();
  smarthost_password_ = std::move(password.value());
  config_ = std::move(config);
  retry_ = policy::RetryPolicy(config_->delivery.retry);
  bounces_ = policy::BounceRules(config_->bounce_rules);
  // Destinations may now route elsewhere (a smarthost came or went).
  for (auto& [name, dest] : destinations_) dest->down_until_ms = 0;
  if (limiter_) limiter_->set_warmup(*config_);
  // A raised allowance must not wait for the next UTC day: the limiter decides again.
  int64_t now = log::now_ms();
  size_t again = 0;
  for (const auto& id : limiter_waits_) {
    if (!scheduler_.contains(id)) continue;
    scheduler_.schedule(id, now);
    ++again;
  }
  limiter_waits_.clear();
  if (again)
    log::info("reload: mail waiting for the limiter is tried again",
              {{"messages", std::to_string(again)}});
  arm();
  return Status::ok();
}

Status DeliveryEngine::start() {
  auto password = read_password(*config_);
  if (!password) return password.status();
  smarthost_password_ = std::move(password.value());
  size_t count = 0;
  auto s = store_.for_each([&](const queue::StoredMessage& m) {
    if (m.envelope.state != queue::MessageState::kHeld) {
      scheduler_.schedule(m.id, m.envelope.next_attempt_ms);
      ++count;
    } else {
      ++held_;
    }
    return true;
  });
  if (!s) return s;
  log::info("delivery started", {{"queued", std::to_string(count)},
                                 {"route", config_->delivery.smarthost
                                               ? "smarthost " + config_->delivery.smarthost->host
                                               : std::string("mx")}});
  arm();
  return Status::ok();
}

void DeliveryEngine::schedule(const queue::QueueId& id, int64_t due_ms) {
  if (in_flight_.count(id)) return;  // finalize() schedules it again
  scheduler_.schedule(id, due_ms);
  arm();
}

void DeliveryEngine::unschedule(const queue::QueueId& id) {
  scheduler_.remove(id);
}

void DeliveryEngine::arm() {
  auto next = scheduler_.next_due();
  if (!next || stopping_) return;
  int64_t wait = std::max<int64_t>(0, *next - log::now_ms());
  timer_.arm(std::chrono::milliseconds(wait));
}

void DeliveryEngine::pump() {
  if (stopping_) return;
  size_t room = options_.max_messages_in_flight > in_flight_.size()
                    ? options_.max_messages_in_flight - in_flight_.size()
                    : 0;
  if (room == 0) return;  // finalize() pumps again
  auto due = scheduler_.take_due(log::now_ms(), room);
  for (const auto& id : due) start_message(id);
  for (auto& [name, dest] : destinations_)
    if (!dest->queue.empty()) dispatch(*dest);
  arm();
}

bool DeliveryEngine::is_local(const std::string& domain) const {
  const conf::Domain* d = config_->find_domain(domain);
  return d && (!d->mailboxes.empty() || !d->aliases.empty());
}

Destination& DeliveryEngine::destination_for(const std::string& name, bool smarthost,
                                             const std::optional<SocketAddress>& lmtp) {
  auto& slot = destinations_[name];
  if (!slot) {
    slot = std::make_unique<Destination>();
    slot->name = name;
    slot->smarthost = smarthost;
  }
  slot->lmtp = lmtp;  // a reload may have moved the server
  return *slot;
}

void DeliveryEngine::start_message(const queue::QueueId& id) {
  limiter_waits_.erase(id);
  auto env = store_.envelope(id);
  if (!env) return;  // deleted meanwhile
  if (env->state == queue::MessageState::kHeld) return;
  auto data = store_.message(id);
  if (!data) {
    log::error("queued message unreadable", {{"id", id.str()}, {"reason", data.message()}});
    return;
  }
  auto work = std::make_shared<MessageWork>();
  work->id = id;
  work->envelope = std::move(env.value());
  work->data = std::make_shared<const std::string>(std::move(data.value()));
  work->message_id = mail::header_value(*work->data, "Message-ID");
  std::map<std::string, Job> jobs;
  std::map<std::string, SocketAddress> lmtp_servers;  // "lmtp:<domain>" -> its server
  bool smarthost = config_->delivery.smarthost.has_value();
  std::vector<size_t> local;
  std::vector<size_t> suppressed = suppressed_now(*work);
  for (size_t i = 0; i < work->envelope.recipients.size(); ++i) {
    const auto& r = work->envelope.recipients[i];
    if (r.state != queue::RcptState::kPending) continue;
    if (std::find(suppressed.begin(), suppressed.end(), i) != suppressed.end()) continue;
    std::string_view lp, domain;
    if (!policy::split_address(r.address, &lp, &domain)) continue;
    std::string d = ascii_lower(domain);
    if (is_local(d)) {
      const conf::Domain* ours = config_->find_domain(d);
      if (!ours->lmtp) {
        local.push_back(i);
        continue;
      }
      std::string key = "lmtp:" + d;
      lmtp_servers[key] = *ours->lmtp;
      auto& job = jobs[key];
      job.work = work;
      job.recipients.push_back(i);
      continue;
    }
    std::string key = smarthost ? "[smarthost]" : d;
    auto& job = jobs[key];
    job.work = work;
    job.recipients.push_back(i);
  }
  in_flight_.insert(id);
  work->outstanding = jobs.size() + (local.empty() ? 0 : 1) + (suppressed.empty() ? 0 : 1);
  if (!local.empty()) deliver_local(work, std::move(local));
  if (work->outstanding == 0) {
    finalize(work);
    return;
  }
  for (auto& [key, job] : jobs) {
    auto lmtp = lmtp_servers.find(key);
    auto& dest = lmtp == lmtp_servers.end() ? destination_for(key, smarthost, std::nullopt)
                                            : destination_for(key, false, lmtp->second);
    dest.queue.push_back(std::move(job));
  }
  // Last: when these are the message's only recipients, record() finalises it.
  if (!suppressed.empty()) bounce_suppressed(work, std::move(suppressed));
}

void DeliveryEngine::deliver_local(std::shared_ptr<MessageWork> work, std::vector<size_t> local) {
  LocalRequest request;
  request.id = work->id.str();
  request.data = work->data;
  request.sender = work->envelope.sender;
  request.folder = work->envelope.folder;
  request.config = config_;
  for (size_t i : local) request.addresses.push_back(work->envelope.recipients[i].address);
  local_.deliver(std::move(request),
                 [this, work, local = std::move(local)](TransactionResult replies) mutable {
                   Job job{work, std::move(local), std::nullopt};
                   record(job, replies, "local", {});
                 });
}

void DeliveryEngine::dispatch(Destination& dest) {
  if (stopping_) return;
  if (dest.down_until_ms > log::now_ms()) {
    fail_queued(dest, 451, "4.4.1 destination " + dest.name + " is down: " + dest.down_reason, "",
                {});
    return;
  }
  assign_egress(dest);
  // Connections already open and idle take work (of their own address) first.
  std::vector<Attempt*> idle = dest.idle;
  for (Attempt* a : idle) {
    auto egress = a->egress();
    if (std::none_of(dest.queue.begin(), dest.queue.end(),
                     [&](const Job& j) { return j.egress == egress; }))
      continue;
    auto it = std::find(dest.idle.begin(), dest.idle.end(), a);
    if (it == dest.idle.end()) continue;
    dest.idle.erase(it);
    a->wake();
  }
  size_t room =
      std::min(options_.max_per_destination - std::min(dest.active, options_.max_per_destination),
               options_.max_connections - std::min(active_connections_, options_.max_connections));
  std::vector<EgressDemand> demand = egress_demand(dest);
  for (const auto& egress : plan_connections(demand, room)) {
    AttemptTools tools{loop_,   config_,  resolver_, connector_,         sts_,
                       tlsrpt_, limiter_, options_,  smarthost_password_};
    auto* attempt = new Attempt(std::move(tools), *this, dest, egress);
    attempts_.insert(attempt);
    dest.active++;
    active_connections_++;
    attempt->start();
  }
  // No room, and an address's mail without any connection: an idle one of another
  // address makes way (its end dispatches again).
  bool starved = std::any_of(demand.begin(), demand.end(),
                             [](const EgressDemand& d) { return d.queued && !d.open; });
  if (room == 0 && starved && !dest.idle.empty()) dest.idle.front()->close_idle();
}

// egress_demand - per egress address: the mail queued for it, its connections, its cap.

std::vector<EgressDemand> DeliveryEngine::egress_demand(const Destination& dest) const {
  bool shaped = limiter_ && limiter_->active() && !dest.lmtp;
  if (!shaped) {
    // No egress addresses to share out: all of the destination's mail and connections are
    // one demand, counted without walking the queue and every attempt for each message.
    if (dest.queue.empty()) return {};
    return {
        EgressDemand{std::nullopt, dest.queue.size(), dest.active, options_.max_per_destination}};
  }
  std::map<std::optional<size_t>, EgressDemand> by_egress;
  for (const auto& job : dest.queue) by_egress[job.egress].queued++;
  for (Attempt* a : attempts_) {
    if (&a->destination() != &dest) continue;
    auto it = by_egress.find(a->egress());
    if (it != by_egress.end()) it->second.open++;
  }
  std::vector<EgressDemand> out;
  for (auto& [egress, d] : by_egress) {
    d.egress = egress;
    d.cap = options_.max_per_destination;
    // Before the provider is known one connection finds it out (and chooses).
    if (!egress) d.cap = 1;
    if (egress) d.cap = std::min<size_t>(d.cap, limiter_->connections_per_address(dest.provider));
    out.push_back(d);
  }
  return out;
}

// assign_egress - each queued message without an address gets one, by weight among those
// that may send; when none may, those messages wait for the window the limiter names.

void DeliveryEngine::assign_egress(Destination& dest) {
  if (!limiter_ || !limiter_->active() || dest.provider.empty() || dest.lmtp) return;
  int64_t now = log::now_ms();
  std::optional<policy::Wait> refused;
  for (auto& job : dest.queue) {
    if (job.egress) continue;
    policy::Wait wait;
    job.egress = limiter_->pick(dest.provider, now, &wait);
    if (!job.egress) {
      refused = std::move(wait);
      break;
    }
  }
  if (refused) wait_queued(dest, *refused, [](const Job& j) { return !j.egress; });
}

std::optional<policy::EgressChoice> DeliveryEngine::egress_refused(Destination& dest, size_t egress,
                                                                   const policy::Wait& wait) {
  int64_t now = log::now_ms();
  auto of_egress = [egress](const Job& j) { return j.egress == egress; };
  if (!limiter_->may_send(egress, dest.provider, now)) {
    // Blocked: chosen again among the addresses that may send (pick() leaves this one out).
    for (auto& job : dest.queue)
      if (of_egress(job)) job.egress.reset();
    assign_egress(dest);
    return std::nullopt;
  }
  // Out of connection slots (or slowed down past what a connection waits for): another
  // address with a free slot, never the same one again, or the mail waits.
  policy::Wait busy;
  auto other = limiter_->choose(dest.provider, now, &busy);
  if (!other || other->index == egress) {
    wait_queued(dest, wait, of_egress);
    return std::nullopt;
  }
  for (auto& job : dest.queue)
    if (of_egress(job)) job.egress = other->index;
  return other;
}

void DeliveryEngine::attempt_done(Attempt* attempt) {
  if (!attempts_.erase(attempt)) return;
  Destination& dest = attempt->destination();
  dest.active--;
  active_connections_--;
  if (attempt->quitting()) {
    closing_.insert(attempt);  // freed by its finished(), once the QUIT is answered
  } else {
    delete attempt;
  }
  if (!dest.queue.empty()) dispatch(dest);
}

void DeliveryEngine::attempt_closed(Attempt* attempt) {
  if (closing_.erase(attempt)) delete attempt;
}

}  // namespace hato::relay
