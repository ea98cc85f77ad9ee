// check_host.cc - the SPF evaluation of RFC 7208 sections 4 to 6, one DNS answer at a time.
//
// An Evaluation lives in a shared_ptr that every pending DNS callback holds, so it outlasts
// whatever it waits for; frames and queued continuations point back to it without owning it,
// so when the resolver drops its callbacks (shutdown) nothing is left holding it. Records are
// "frames": the top one, and one per include or redirect. A frame reports only a match result
// (pass, fail, softfail, neutral, none) to whoever started it; temperror and permerror end the
// whole evaluation at once, because the RFC propagates them unchanged through include and redirect
// to the top. Once finished, late answers are dropped.
#include <algorithm>
#include <ctime>
#include <optional>
#include <utility>
#include <vector>

#include "common/strings.h"
#include "policy/spf/macro.h"
#include "policy/spf/record.h"
#include "policy/spf/spf.h"

namespace hato::policy::spf {

const char* spf_result_name(SpfResult result) {
  switch (result) {
    case SpfResult::kNone:
      return "none";
    case SpfResult::kNeutral:
      return "neutral";
    case SpfResult::kPass:
      return "pass";
    case SpfResult::kFail:
      return "fail";
    case SpfResult::kSoftFail:
      return "softfail";
    case SpfResult::kTempError:
      return "temperror";
    case SpfResult::kPermError:
      return "permerror";
  }
  return "permerror";
}

SpfRequest mail_from_request(const SocketAddress& ip, std::string_view mail_from,
                             std::string_view helo) {
  SpfRequest r;
  r.ip = ip;
  r.helo = std::string(helo);
  if (mail_from.empty()) {
    r.domain = std::string(helo);
    r.sender = "postmaster@" + r.domain;
    return r;
  }
  auto at = mail_from.rfind('@');
  if (at == std::string_view::npos) {
    r.sender = std::string(mail_from);  // no domain: check_host() answers none
    return r;
  }
  r.domain = std::string(mail_from.substr(at + 1));
  r.sender = std::string(mail_from);
  return r;
}

namespace {

using Clock = std::chrono::steady_clock;

// Labels of 1 to 63 octets, 253 in all, no trailing dot (query_name() took it off).
bool valid_query_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  size_t start = 0;
  for (;;) {
    auto dot = name.find('.', start);
    size_t len = (dot == std::string_view::npos ? name.size() : dot) - start;
    if (len == 0 || len > 63) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

// Section 4.3: a malformed or single-label <domain> gives none before any lookup. A domain
// literal ("[192.0.2.1]", an address given as HELO) is not a domain name at all.
bool valid_initial_domain(std::string_view domain) {
  if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  if (domain.empty() || domain.front() == '[' || domain.find('.') == std::string_view::npos)
    return false;
  return valid_query_name(domain);
}

bool is_void(net::DnsStatus s) {
  return s == net::DnsStatus::kNoData || s == net::DnsStatus::kNxDomain;
}

SpfResult result_of(Qualifier q) {
  switch (q) {
    case Qualifier::kPass:
      return SpfResult::kPass;
    case Qualifier::kFail:
      return SpfResult::kFail;
    case Qualifier::kSoftFail:
      return SpfResult::kSoftFail;
    case Qualifier::kNeutral:
      return SpfResult::kNeutral;
  }
  return SpfResult::kNeutral;
}

class Evaluation : public std::enable_shared_from_this<Evaluation> {
 public:
  Evaluation(std::shared_ptr<SpfDns> dns, const SpfOptions& options, SpfRequest request,
             std::function<void(SpfOutcome)> done)
      : dns_(std::move(dns)),
        options_(options),
        request_(std::move(request)),
        done_(std::move(done)),
        deadline_(Clock::now() + options.time_limit) {}

  void start() {
    auto ip = Ip::from(request_.ip);
    if (!ip) {
      finish({SpfResult::kPermError, "", "the client address is not IPv4 or IPv6"});
      return;
    }
    ip_ = *ip;
    init_vars();
    check_domain(request_.domain, [this](FrameResult r) { top_done(std::move(r)); });
  }

 private:
  struct Frame;
  using FramePtr = std::shared_ptr<Frame>;

  // What a record's evaluation tells whoever started it.
  struct FrameResult {
    SpfResult result = SpfResult::kNeutral;  // none, neutral, pass, fail or softfail
    std::string problem;
    // The record whose mechanism decided: its exp= explains a fail. A redirect hands its
    // target's on; an include's never reaches the top (section 6.2).
    FramePtr decided_by;
  };
  using FrameDone = std::function<void(FrameResult)>;

  struct Frame {
    std::string domain;
    Record record;
    size_t next = 0;  // the next mechanism to evaluate
    FrameDone done;
  };

  // The PTR names of the client that resolve back to it (section 5.5), for ptr and %{p}.
  struct Validation {
    bool done = false;
    bool void_answer = false;
    std::vector<std::string> names;
    std::vector<std::function<void()>> waiters;
  };

  void init_vars() {
    const std::string& s = request_.sender;
    auto at = s.rfind('@');
    std::string local = at == std::string::npos ? s : s.substr(0, at);
    vars_.sender_domain = at == std::string::npos ? request_.domain : s.substr(at + 1);
    vars_.local_part = local.empty() ? "postmaster" : local;  // section 4.3
    vars_.sender = vars_.local_part + "@" + vars_.sender_domain;
    vars_.ip_dotted = ip_.dotted();
    vars_.ip_readable = ip_.readable();
    vars_.ip_version = ip_.v6 ? "ip6" : "in-addr";
    vars_.helo = request_.helo;
    vars_.receiver = options_.receiver;
    int64_t now = options_.now ? options_.now : static_cast<int64_t>(std::time(nullptr));
    vars_.timestamp = std::to_string(now);
  }

  // ---- Ending ----

  void finish(SpfOutcome outcome) {
    if (finished_) return;
    finished_ = true;
    validation_.waiters.clear();  // what they would have continued is over
    auto done = std::move(done_);
    done_ = nullptr;
    done(std::move(outcome));
  }

  void fail_now(SpfResult result, std::string problem) { finish({result, "", std::move(problem)}); }

  // Whether an answer that just came is still wanted; past the time limit, ends in temperror.
  bool proceed() {
    if (finished_) return false;
    if (Clock::now() > deadline_) {
      fail_now(SpfResult::kTempError, "SPF evaluation ran out of time");
      return false;
    }
    return true;
  }

  template <typename R>
  std::function<void(R)> guarded(std::function<void(R)> fn) {
    return [self = shared_from_this(), fn = std::move(fn)](R r) {
      if (self->proceed()) fn(std::move(r));
    };
  }

  bool count_term() {
    if (++terms_ <= options_.max_dns_terms) return true;
    fail_now(SpfResult::kPermError,
             "more than " + std::to_string(options_.max_dns_terms) + " DNS-querying terms");
    return false;
  }

  bool count_void() {
    if (++voids_ <= options_.max_void_lookups) return true;
    fail_now(SpfResult::kPermError,
             "more than " + std::to_string(options_.max_void_lookups) + " void DNS lookups");
    return false;
  }

  // ---- Records ----

  // check_host() for one domain: fetch, select and parse its record, then evaluate it.
  void check_domain(const std::string& raw_domain, FrameDone done) {
    if (!valid_initial_domain(raw_domain)) {
      done({SpfResult::kNone, "'" + raw_domain + "' is not a valid domain name", nullptr});
      return;
    }
    std::string domain = query_name(ascii_lower(raw_domain));
    dns_->txt(domain, guarded<net::TxtResult>([this, domain, done](net::TxtResult r) {
                if (net::dns_temporary(r.status)) {
                  fail_now(SpfResult::kTempError, "TXT lookup of " + domain + ": " + r.error);
                  return;
                }
                const std::string* found = nullptr;
                int count = 0;
                for (const auto& txt : r.records) {
                  if (!is_spf_record(txt)) continue;
                  ++count;
                  found = &txt;
                }
                if (count == 0) {
                  done({SpfResult::kNone, "no SPF record at " + domain, nullptr});
                  return;
                }
                if (count > 1) {
                  fail_now(SpfResult::kPermError, "more than one SPF record at " + domain);
                  return;
                }
                auto record = parse_record(*found);
                if (!record) {
                  fail_now(SpfResult::kPermError,
                           "SPF record of " + domain + ": " + record.message());
                  return;
                }
                auto frame = std::make_shared<Frame>();
                frame->domain = domain;
                frame->record = std::move(record.value());
                frame->done = done;
                run(frame);
              }));
  }

  // Evaluates mechanisms from frame->next until one needs DNS or one matches.
  void run(const FramePtr& frame) {
    const auto& mechanisms = frame->record.mechanisms;
    while (frame->next < mechanisms.size()) {
      size_t index = frame->next++;
      const Mechanism& m = mechanisms[index];
      switch (m.kind) {
        case Mechanism::Kind::kAll:
          match(frame, index);
          return;
        case Mechanism::Kind::kIp4:
        case Mechanism::Kind::kIp6:
          if (ip_.in(m.network, m.kind == Mechanism::Kind::kIp4 ? m.cidr4 : m.cidr6)) {
            match(frame, index);
            return;
          }
          continue;
        default:
          if (!count_term()) return;
          evaluate_dns_mechanism(frame, index);
          return;
      }
    }
    if (!frame->record.redirect) {
      frame->done({SpfResult::kNeutral, "no mechanism matched", nullptr});
      return;
    }
    // Section 6.1: the redirect target's result is this record's, none becoming permerror.
    if (!count_term()) return;
    expand(*frame->record.redirect, frame->domain, [this, frame](std::string target) {
      check_domain(target, [this, frame, target](FrameResult r) {
        if (r.result == SpfResult::kNone) {
          fail_now(SpfResult::kPermError, "redirect to " + target + ": " + r.problem);
          return;
        }
        frame->done(std::move(r));
      });
    });
  }

  void match(const FramePtr& frame, size_t index) {
    const Mechanism& m = frame->record.mechanisms[index];
    frame->done({result_of(m.qualifier),
                 "matched '" + m.text + "' in the record of " + frame->domain, frame});
  }

  void evaluate_dns_mechanism(const FramePtr& frame, size_t index) {
    const Mechanism& m = frame->record.mechanisms[index];
    auto next = [this, frame, index](bool matched) {
      if (matched) {
        match(frame, index);
      } else {
        run(frame);
      }
    };
    auto with_target = [this, frame, index, next](std::string target) {
      const Mechanism& m = frame->record.mechanisms[index];
      switch (m.kind) {
        case Mechanism::Kind::kInclude:
          include(target, next);
          break;
        case Mechanism::Kind::kA:
          mechanism_a(target, m.cidr4, m.cidr6, next);
          break;
        case Mechanism::Kind::kMx:
          mechanism_mx(target, m.cidr4, m.cidr6, next);
          break;
        case Mechanism::Kind::kPtr:
          mechanism_ptr(target, next);
          break;
        case Mechanism::Kind::kExists:
          mechanism_exists(target, next);
          break;
        default:
          next(false);
          break;
      }
    };
    if (m.domain) {
      expand(*m.domain, frame->domain, with_target);
    } else {
      with_target(frame->domain);
    }
  }

  // ---- Mechanisms ----

  // Section 5.2: pass matches; fail, softfail and neutral do not; none is a permerror.
  void include(const std::string& target, std::function<void(bool)> next) {
    check_domain(target, [this, target, next](FrameResult r) {
      if (r.result == SpfResult::kNone) {
        fail_now(SpfResult::kPermError, "include of " + target + ": " + r.problem);
        return;
      }
      next(r.result == SpfResult::kPass);
    });
  }

  void lookup_addresses(const std::string& name, std::function<void(net::AddressResult)> done) {
    if (ip_.v6) {
      dns_->aaaa(name, guarded(std::move(done)));
    } else {
      dns_->a(name, guarded(std::move(done)));
    }
  }

  bool any_in(const net::AddressResult& r, int cidr4, int cidr6) const {
    for (const auto& address : r.addresses) {
      auto candidate = Ip::from(address);
      if (candidate && ip_.in(*candidate, ip_.v6 ? cidr6 : cidr4)) return true;
    }
    return false;
  }

  void mechanism_a(const std::string& target, int cidr4, int cidr6,
                   std::function<void(bool)> next) {
    if (!valid_query_name(target)) {
      next(false);  // a name no query can carry (section 4.8) does not exist
      return;
    }
    lookup_addresses(target, [this, target, cidr4, cidr6, next](net::AddressResult r) {
      if (net::dns_temporary(r.status)) {
        fail_now(SpfResult::kTempError, "address lookup of " + target + ": " + r.error);
        return;
      }
      if (is_void(r.status)) {
        if (count_void()) next(false);
        return;
      }
      next(any_in(r, cidr4, cidr6));
    });
  }

  void mechanism_mx(const std::string& target, int cidr4, int cidr6,
                    std::function<void(bool)> next) {
    if (!valid_query_name(target)) {
      next(false);
      return;
    }
    dns_->mx(
        target, guarded<net::MxResult>([this, target, cidr4, cidr6, next](net::MxResult r) {
          if (net::dns_temporary(r.status)) {
            fail_now(SpfResult::kTempError, "MX lookup of " + target + ": " + r.error);
            return;
          }
          if (is_void(r.status)) {
            if (count_void()) next(false);
            return;
          }
          // Section 4.6.4: more than 10 MX names is an error of the record, not a reason to
          // look at only some of them.
          if (r.records.size() > static_cast<size_t>(options_.max_names)) {
            fail_now(SpfResult::kPermError, target + " has more than " +
                                                std::to_string(options_.max_names) + " MX records");
            return;
          }
          std::stable_sort(r.records.begin(), r.records.end(),
                           [](const net::MxRecord& x, const net::MxRecord& y) {
                             return x.preference < y.preference;
                           });
          std::vector<std::string> hosts;
          for (const auto& mx : r.records) {
            if (!mx.host.empty() && valid_query_name(mx.host)) hosts.push_back(mx.host);  // not "."
          }
          lookup_all(hosts, [this, cidr4, cidr6, next,
                             hosts](std::vector<net::AddressResult> results) {
            // In MX order, as if one after the other: an error before a match is the answer.
            for (size_t i = 0; i < results.size(); ++i) {
              if (net::dns_temporary(results[i].status)) {
                fail_now(SpfResult::kTempError,
                         "address lookup of " + hosts[i] + ": " + results[i].error);
                return;
              }
              if (results[i].status == net::DnsStatus::kOk && any_in(results[i], cidr4, cidr6)) {
                next(true);
                return;
              }
            }
            next(false);
          });
        }));
  }

  void mechanism_exists(const std::string& target, std::function<void(bool)> next) {
    if (!valid_query_name(target)) {
      next(false);
      return;
    }
    // Section 5.7: always an A query, whatever the client's address family.
    dns_->a(target, guarded<net::AddressResult>([this, target, next](net::AddressResult r) {
              if (net::dns_temporary(r.status)) {
                fail_now(SpfResult::kTempError, "A lookup of " + target + ": " + r.error);
                return;
              }
              if (is_void(r.status)) {
                if (count_void()) next(false);
                return;
              }
              next(!r.addresses.empty());
            }));
  }

  void mechanism_ptr(const std::string& target, std::function<void(bool)> next) {
    std::string want = ascii_lower(target);
    validate_ptr([this, want, next] {
      if (validation_.void_answer && !count_void()) return;
      for (const auto& name : validation_.names) {
        if (name == want || (name.size() > want.size() &&
                             name.compare(name.size() - want.size(), want.size(), want) == 0 &&
                             name[name.size() - want.size() - 1] == '.')) {
          next(true);
          return;
        }
      }
      next(false);
    });
  }

  // Address lookups of several names at once; `done` gets the answers in the names' order.
  void lookup_all(const std::vector<std::string>& names,
                  std::function<void(std::vector<net::AddressResult>)> done) {
    struct Gather {
      std::vector<net::AddressResult> results;
      size_t missing;
      std::function<void(std::vector<net::AddressResult>)> done;
    };
    if (names.empty()) {
      done({});
      return;
    }
    auto gather = std::make_shared<Gather>();
    gather->results.resize(names.size());
    gather->missing = names.size();
    gather->done = std::move(done);
    for (size_t i = 0; i < names.size(); ++i) {
      lookup_addresses(names[i], [gather, i](net::AddressResult r) {
        gather->results[i] = std::move(r);
        if (--gather->missing == 0) gather->done(std::move(gather->results));
      });
    }
  }

  // Section 5.5: the first 10 PTR names, each kept if one of its addresses is the client's.
  // A failed lookup only drops a name; the work is done once per evaluation.
  void validate_ptr(std::function<void()> then) {
    if (validation_.done) {
      then();
      return;
    }
    validation_.waiters.push_back(std::move(then));
    if (validation_.waiters.size() > 1) return;  // already under way
    dns_->ptr(ip_.to_socket_address(), guarded<net::PtrResult>([this](net::PtrResult r) {
                validation_.void_answer = is_void(r.status);
                std::vector<std::string> names;
                if (r.status == net::DnsStatus::kOk) {
                  for (auto& name : r.names) {
                    if (names.size() == static_cast<size_t>(options_.max_names)) break;
                    std::string n = query_name(ascii_lower(name));
                    if (valid_query_name(n)) names.push_back(std::move(n));
                  }
                }
                lookup_all(names, [this, names](std::vector<net::AddressResult> results) {
                  for (size_t i = 0; i < names.size(); ++i) {
                    if (results[i].status != net::DnsStatus::kOk) continue;
                    if (any_in(results[i], 32, 128)) validation_.names.push_back(names[i]);
                  }
                  validation_.done = true;
                  auto waiters = std::move(validation_.waiters);
                  for (auto& w : waiters) {
                    if (finished_) return;
                    w();
                  }
                });
              }));
  }

  // ---- Macros ----

  // Section 7.3 %{p}: the validated name equal to <domain>, else one under it, else any;
  // "unknown" without one.
  std::string validated_name(const std::string& domain) const {
    const auto& names = validation_.names;
    std::string d = ascii_lower(domain);
    for (const auto& n : names) {
      if (n == d) return n;
    }
    for (const auto& n : names) {
      if (n.size() > d.size() && n.compare(n.size() - d.size(), d.size(), d) == 0 &&
          n[n.size() - d.size() - 1] == '.')
        return n;
    }
    return names.empty() ? "unknown" : names.front();
  }

  // Expands a domain-spec for `domain` (%{d}) into a name to query.
  void expand(const MacroString& macro, const std::string& domain,
              std::function<void(std::string)> next) {
    auto run_expand = [this, &macro, domain, next] {
      MacroVars vars = vars_;
      vars.domain = domain;
      if (macro.uses('p')) vars.validated = validated_name(domain);
      next(query_name(expand_macro_string(macro, vars)));
    };
    if (macro.uses('p')) {
      validate_ptr(run_expand);
    } else {
      run_expand();
    }
  }

  // ---- The end ----

  void top_done(FrameResult r) {
    if (r.result != SpfResult::kFail || !r.decided_by || !r.decided_by->record.exp) {
      finish({r.result, r.result == SpfResult::kFail ? options_.default_explanation : "",
              std::move(r.problem)});
      return;
    }
    // Section 6.2: any trouble with the explanation means the default one, never an error.
    auto problem = std::make_shared<std::string>(std::move(r.problem));
    FramePtr frame = r.decided_by;
    std::string exp_domain = frame->domain;
    expand(*frame->record.exp, exp_domain, [this, frame, problem, exp_domain](std::string name) {
      if (!valid_query_name(name)) {
        finish({SpfResult::kFail, options_.default_explanation, *problem});
        return;
      }
      auto self = shared_from_this();
      dns_->txt(name, [self, problem, exp_domain](net::TxtResult t) {
        if (self->finished_) return;
        self->explain(std::move(t), exp_domain, problem);
      });
    });
  }

  void explain(net::TxtResult t, const std::string& exp_domain,
               std::shared_ptr<std::string> problem) {
    std::optional<MacroString> text;
    if (t.status == net::DnsStatus::kOk && t.records.size() == 1) {
      auto parsed = parse_macro_string(t.records[0], MacroSyntax::kExplanation);
      if (parsed) text = std::move(parsed.value());
    }
    if (!text) {
      finish({SpfResult::kFail, options_.default_explanation, *problem});
      return;
    }
    auto macro = std::make_shared<MacroString>(std::move(*text));
    auto expand_text = [this, macro, exp_domain, problem] {
      MacroVars vars = vars_;
      vars.domain = exp_domain;
      if (macro->uses('p')) vars.validated = validated_name(exp_domain);
      finish({SpfResult::kFail, expand_macro_string(*macro, vars), *problem});
    };
    if (macro->uses('p')) {
      validate_ptr(expand_text);
    } else {
      expand_text();
    }
  }

  std::shared_ptr<SpfDns> dns_;
  SpfOptions options_;
  SpfRequest request_;
  std::function<void(SpfOutcome)> done_;
  Clock::time_point deadline_;
  Ip ip_;
  MacroVars vars_;
  int terms_ = 0;
  int voids_ = 0;
  bool finished_ = false;
  Validation validation_;
};

}  // namespace

void check_host(std::shared_ptr<SpfDns> dns, const SpfOptions& options, SpfRequest request,
                std::function<void(SpfOutcome)> done) {
  auto evaluation =
      std::make_shared<Evaluation>(std::move(dns), options, std::move(request), std::move(done));
  evaluation->start();
}

}  // namespace hato::policy::spf
