// mta_sts.cc - fetching and caching MTA-STS policies.
#include "relay/mta_sts.h"

#include "common/log.h"
#include "common/strings.h"
#include "queue/state_keys.h"

namespace hato::relay {

namespace mts = policy::mta_sts;

namespace {
constexpr auto kFetchTimeout = std::chrono::seconds(60);  // RFC 8461 3.3 suggests a minute
}  // namespace

MtaStsPolicies::MtaStsPolicies(net::Resolver& resolver, net::HttpClient& http,
                               policy::StateStore* state)
    : resolver_(resolver), http_(http), state_(state) {}

std::string MtaStsPolicies::policy_url(const std::string& domain) const {
  return "https://mta-sts." + domain + (port_ == 443 ? "" : ":" + std::to_string(port_)) +
         "/.well-known/mta-sts.txt";
}

void MtaStsPolicies::lookup(const std::string& domain, std::function<void(StsResult)> done) {
  auto [it, fresh] = waiting_.try_emplace(domain);
  it->second.push_back(std::move(done));
  if (!fresh) return;  // the same domain is being looked up: share the answer
  std::weak_ptr<int> alive = alive_;
  resolver_.txt("_mta-sts." + domain, [this, alive, domain](net::TxtResult txt) {
    if (!alive.expired()) on_txt(domain, std::move(txt));
  });
}

std::optional<mts::Policy> MtaStsPolicies::cached(const std::string& domain) {
  auto it = memory_.find(domain);
  if (it == memory_.end() && state_) {
    if (auto record = state_->get(queue::state::mta_sts_key(domain))) {
      if (auto policy = mts::decode_cached(*record))
        it = memory_.emplace(domain, std::move(*policy)).first;
    }
  }
  if (it == memory_.end()) return std::nullopt;
  if (it->second.expires_ms() <= log::now_ms()) {
    // Expired: as if never seen (RFC 8461 5.1).
    memory_.erase(it);
    if (state_) state_->erase(queue::state::mta_sts_key(domain));
    return std::nullopt;
  }
  return it->second;
}

void MtaStsPolicies::remember(const std::string& domain, const mts::Policy& policy) {
  memory_[domain] = policy;
  if (state_) state_->put(queue::state::mta_sts_key(domain), mts::encode_cached(policy));
}

void MtaStsPolicies::on_txt(const std::string& domain, net::TxtResult txt) {
  std::optional<std::string> id;
  if (txt.status == net::DnsStatus::kOk) id = mts::parse_txt(txt.records);
  auto have = cached(domain);
  if (!id) {
    // No record now: a cached policy still applies until it expires.
    StsResult r;
    r.policy = std::move(have);
    return finish(domain, std::move(r));
  }
  if (have && have->id == *id) {
    StsResult r;
    r.policy = std::move(have);
    return finish(domain, std::move(r));
  }
  net::HttpRequest request;
  request.url = policy_url(domain);
  request.timeout = kFetchTimeout;
  request.max_body = mts::kMaxPolicyBytes;
  std::weak_ptr<int> alive = alive_;
  std::string policy_id = *id;
  http_.fetch(std::move(request),
              [this, alive, domain, policy_id](Result<net::HttpResponse> response) {
                if (!alive.expired()) fetched(domain, policy_id, std::move(response));
              });
}

void MtaStsPolicies::fetched(const std::string& domain, const std::string& id,
                             Result<net::HttpResponse> response) {
  StsResult r;
  std::string url = policy_url(domain);
  if (!response) {
    const std::string& why = response.message();
    r.failure = why.find("certificate") != std::string::npos ? "sts-webpki-invalid"
                                                             : "sts-policy-fetch-error";
    r.failure_text = "cannot fetch " + url + ": " + why;
  } else if (response->status != 200) {
    // Redirects included: RFC 8461 3.3 forbids following them.
    r.failure = "sts-policy-fetch-error";
    r.failure_text = url + " answered HTTP " + std::to_string(response->status);
  } else {
    std::string type = response->header("content-type");
    std::string media = type.substr(0, type.find(';'));
    while (!media.empty() && media.back() == ' ') media.pop_back();
    media = ascii_lower(media);
    if (media != "text/plain") {
      r.failure = "sts-policy-invalid";
      r.failure_text = url + " is served as '" + type + "', not text/plain";
    } else if (auto policy = mts::parse_policy(response->body); !policy) {
      r.failure = "sts-policy-invalid";
      r.failure_text = "policy at " + url + " is invalid: " + policy.message();
    } else {
      policy->id = id;
      policy->fetched_ms = log::now_ms();
      remember(domain, *policy);
      log::info("mta-sts policy", {{"domain", domain},
                                   {"id", id},
                                   {"mode", mts::mode_name(policy->mode)},
                                   {"max_age", std::to_string(policy->max_age)}});
      r.policy = std::move(policy.value());
      return finish(domain, std::move(r));
    }
  }
  // A fetch that failed leaves the previous policy in force while it lives (RFC 8461 5.1).
  r.policy = cached(domain);
  log::warning("mta-sts policy fetch failed",
               {{"domain", domain},
                {"reason", r.failure_text},
                {"using", r.policy ? std::string("cached policy ") + r.policy->id : "no policy"}});
  finish(domain, std::move(r));
}

void MtaStsPolicies::finish(const std::string& domain, StsResult result) {
  auto it = waiting_.find(domain);
  if (it == waiting_.end()) return;
  auto waiters = std::move(it->second);
  waiting_.erase(it);
  for (auto& w : waiters) w(result);
}

}  // namespace hato::relay
