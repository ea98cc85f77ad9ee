// fake_resolver.h - a net::Resolver backed by tables, whose answers wait until run_pending()
// as they would wait for the loop; unknown names are NXDOMAIN.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "net/resolver.h"

namespace hato::testing {

class FakeResolver : public net::Resolver {
 public:
  std::map<std::string, net::TxtResult> txt_answers;
  std::map<std::string, net::AddressResult> a_answers;
  std::vector<std::string> queries;  // "TXT name", "A name", in order asked

  void add_txt(const std::string& name, std::vector<std::string> records) {
    net::TxtResult r;
    r.status = net::DnsStatus::kOk;
    r.records = std::move(records);
    txt_answers[name] = r;
  }
  void fail_txt(const std::string& name, net::DnsStatus status = net::DnsStatus::kServFail) {
    net::TxtResult r;
    r.status = status;
    txt_answers[name] = r;
  }
  void add_a(const std::string& name, const std::vector<std::string>& ips) {
    net::AddressResult r;
    r.status = net::DnsStatus::kOk;
    for (const auto& ip : ips) r.addresses.push_back(SocketAddress::parse(ip, 0).value());
    a_answers[name] = r;
  }
  void fail_a(const std::string& name, net::DnsStatus status = net::DnsStatus::kTimeout) {
    net::AddressResult r;
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

  void mx(const std::string&, std::function<void(net::MxResult)> done) override {
    pending_.push_back([done] { done(net::MxResult{}); });
  }
  void addresses(const std::string& host, std::function<void(net::AddressResult)> done) override {
    a(host, std::move(done));
  }
  void a(const std::string& host, std::function<void(net::AddressResult)> done) override {
    queries.push_back("A " + host);
    net::AddressResult r;
    r.status = net::DnsStatus::kNxDomain;
    if (auto it = a_answers.find(host); it != a_answers.end()) r = it->second;
    pending_.push_back([done, r] { done(r); });
  }
  void txt(const std::string& name, std::function<void(net::TxtResult)> done) override {
    queries.push_back("TXT " + name);
    net::TxtResult r;
    r.status = net::DnsStatus::kNxDomain;
    if (auto it = txt_answers.find(name); it != txt_answers.end()) r = it->second;
    pending_.push_back([done, r] { done(r); });
  }
  void ptr(const SocketAddress&, std::function<void(net::PtrResult)> done) override {
    pending_.push_back([done] { done(net::PtrResult{}); });
  }
  void tlsa(const std::string&, std::function<void(net::TlsaResult)> done) override {
    pending_.push_back([done] { done(net::TlsaResult{}); });
  }

 private:
  std::vector<std::function<void()>> pending_;
};

}  // namespace hato::testing
