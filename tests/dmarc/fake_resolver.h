// fake_resolver.h - a relay::Resolver backed by tables, whose answers wait until run_pending()
// as they would wait for the loop; unknown names are NXDOMAIN.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "relay/resolver.h"

namespace hato::testing {

class FakeResolver : public relay::Resolver {
 public:
  std::map<std::string, relay::TxtResult> txt_answers;
  std::map<std::string, relay::AddressResult> a_answers;
  std::vector<std::string> queries;  // "TXT name", "A name", in order asked

  void add_txt(const std::string& name, std::vector<std::string> records) {
    relay::TxtResult r;
    r.status = relay::DnsStatus::kOk;
    r.records = std::move(records);
    txt_answers[name] = r;
  }
  void fail_txt(const std::string& name, relay::DnsStatus status = relay::DnsStatus::kServFail) {
    relay::TxtResult r;
    r.status = status;
    txt_answers[name] = r;
  }
  void add_a(const std::string& name, const std::vector<std::string>& ips) {
    relay::AddressResult r;
    r.status = relay::DnsStatus::kOk;
    for (const auto& ip : ips) r.addresses.push_back(SocketAddress::parse(ip, 0).value());
    a_answers[name] = r;
  }
  void fail_a(const std::string& name, relay::DnsStatus status = relay::DnsStatus::kTimeout) {
    relay::AddressResult r;
    r.status = status;
    a_answers[name] = r;
  }

  // Delivers every answer asked for so far, and those asked for meanwhile.
  void run_pending() {
    while (!pending_.empty()) {
      auto batch = std::move(pending_);
      pending_.clear();
      for (auto& f : batch) f();
    }
  }
  size_t pending() const { return pending_.size(); }

  void mx(const std::string&, std::function<void(relay::MxResult)> done) override {
    pending_.push_back([done] { done(relay::MxResult{}); });
  }
  void addresses(const std::string& host, std::function<void(relay::AddressResult)> done) override {
    a(host, std::move(done));
  }
  void a(const std::string& host, std::function<void(relay::AddressResult)> done) override {
    queries.push_back("A " + host);
    relay::AddressResult r;
    r.status = relay::DnsStatus::kNxDomain;
    if (auto it = a_answers.find(host); it != a_answers.end()) r = it->second;
    pending_.push_back([done, r] { done(r); });
  }
  void txt(const std::string& name, std::function<void(relay::TxtResult)> done) override {
    queries.push_back("TXT " + name);
    relay::TxtResult r;
    r.status = relay::DnsStatus::kNxDomain;
    if (auto it = txt_answers.find(name); it != txt_answers.end()) r = it->second;
    pending_.push_back([done, r] { done(r); });
  }
  void ptr(const SocketAddress&, std::function<void(relay::PtrResult)> done) override {
    pending_.push_back([done] { done(relay::PtrResult{}); });
  }
  void tlsa(const std::string&, std::function<void(relay::TlsaResult)> done) override {
    pending_.push_back([done] { done(relay::TlsaResult{}); });
  }

 private:
  std::vector<std::function<void()>> pending_;
};

}  // namespace hato::testing
