// resolver_dns.cc - SpfDns on net::Resolver.
//
// The resolver has no AAAA-only lookup, so aaaa() asks for both families and keeps the IPv6
// answers. The cost: one A query more, and a failed AAAA query hidden when the A query
// answered (the name then reads as having no AAAA records rather than as temperror).
#include "policy/spf/spf.h"

#include <sys/socket.h>

#include <algorithm>

namespace hato::policy::spf {

namespace {

class ResolverSpfDns final : public SpfDns {
 public:
  explicit ResolverSpfDns(net::Resolver& resolver) : resolver_(resolver) {}

  void txt(const std::string& name, std::function<void(net::TxtResult)> done) override {
    resolver_.txt(name, std::move(done));
  }
  void a(const std::string& name, std::function<void(net::AddressResult)> done) override {
    resolver_.a(name, std::move(done));
  }
  void aaaa(const std::string& name, std::function<void(net::AddressResult)> done) override {
    resolver_.addresses(name, [done = std::move(done)](net::AddressResult r) {
      auto& list = r.addresses;
      list.erase(std::remove_if(list.begin(), list.end(),
                                [](const SocketAddress& a) { return a.family() != AF_INET6; }),
                 list.end());
      if (r.status == net::DnsStatus::kOk && list.empty()) {
        r.status = net::DnsStatus::kNoData;
        r.error = "no AAAA records";
      }
      done(std::move(r));
    });
  }
  void mx(const std::string& name, std::function<void(net::MxResult)> done) override {
    resolver_.mx(name, std::move(done));
  }
  void ptr(const SocketAddress& ip, std::function<void(net::PtrResult)> done) override {
    resolver_.ptr(ip, std::move(done));
  }

 private:
  net::Resolver& resolver_;
};

}  // namespace

std::unique_ptr<SpfDns> make_resolver_spf_dns(net::Resolver& resolver) {
  return std::make_unique<ResolverSpfDns>(resolver);
}

}  // namespace hato::policy::spf
