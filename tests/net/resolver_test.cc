// resolver_test.cc - the c-ares resolver against a real dnsmasq on a loopback port: each record
// type, NXDOMAIN and NoData, dead servers, the cache, when callbacks run, destruction with
// queries in flight; and the response parsers on raw bytes (null MX, negative TTLs from an SOA,
// the AD bit, malformed and truncated messages).
#define BOOST_TEST_MODULE resolver
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "common/loop.h"
#include "common/net.h"
#include "net/resolver.h"

namespace hato::net {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// ---- Sockets and a DNS server for the tests ----

// A UDP socket on 127.0.0.1 with a kernel-chosen port; closed when destroyed.
class UdpSocket {
 public:
  UdpSocket() {
    fd_ = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_TEST_REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0);
    socklen_t len = sizeof(sa);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
  }
  ~UdpSocket() { close(fd_); }
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;
  int fd() const { return fd_; }
  uint16_t port() const { return port_; }
  // Datagrams waiting to be read, read and counted.
  int drain() {
    int n = 0;
    char buf[2048];
    while (recv(fd_, buf, sizeof(buf), MSG_DONTWAIT) >= 0) ++n;
    return n;
  }

 private:
  int fd_;
  uint16_t port_ = 0;
};

// A port free for both UDP and TCP on 127.0.0.1 when this returns.
uint16_t free_port() {
  for (int attempt = 0; attempt < 20; ++attempt) {
    UdpSocket udp;
    int tcp = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(udp.port());
    bool ok = bind(tcp, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0;
    close(tcp);
    if (ok) return udp.port();
  }
  BOOST_FAIL("no free port");
  return 0;
}

SocketAddress loopback(uint16_t port) {
  return SocketAddress::parse("127.0.0.1:" + std::to_string(port)).value();
}

// Sends one A query for `name` to 127.0.0.1:port; true if any answer comes within 100 ms.
bool probe(uint16_t port, const std::string& name) {
  std::vector<uint8_t> q = {0x4a, 0x7e, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
  std::stringstream labels(name);
  for (std::string label; std::getline(labels, label, '.');) {
    q.push_back(static_cast<uint8_t>(label.size()));
    q.insert(q.end(), label.begin(), label.end());
  }
  q.insert(q.end(), {0, 0, 1, 0, 1});
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  timeval tv{0, 100000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  SocketAddress to = loopback(port);
  sendto(fd, q.data(), q.size(), 0, to.sa(), to.length);
  uint8_t reply[512];
  ssize_t n = recv(fd, reply, sizeof(reply), 0);
  close(fd);
  return n >= 12 && reply[0] == 0x4a && reply[1] == 0x7e;
}

std::string repeat(char c, size_t n) {
  return std::string(n, c);
}

// The long TXT record: four strings, 1500 bytes in all, so the answer outgrows the EDNS size
// and comes over TCP after a truncated UDP answer.
const std::string kLongTxt =
    repeat('a', 400) + repeat('b', 400) + repeat('c', 400) + repeat('d', 300);

// dnsmasq in the foreground on a free loopback port, serving only what it is told.
class Dnsmasq {
 public:
  // local_ttl: the TTL of every answer (dnsmasq's own default is 0: "do not cache").
  explicit Dnsmasq(int local_ttl = 300, std::vector<std::string> extra = {})
      : local_ttl_(local_ttl), extra_(std::move(extra)) {
    static int instances = 0;
    log_path_ = "/tmp/hato-resolver-test-dnsmasq." + std::to_string(getpid()) + "." +
                std::to_string(++instances) + ".log";
    for (int attempt = 0; attempt < 5; ++attempt) {
      if (start()) return;
    }
    BOOST_FAIL("dnsmasq did not start: " + log());
  }
  ~Dnsmasq() {
    stop();
    unlink(log_path_.c_str());
  }
  Dnsmasq(const Dnsmasq&) = delete;
  Dnsmasq& operator=(const Dnsmasq&) = delete;

  SocketAddress address() const { return loopback(port_); }
  void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  std::string log() const {
    std::ifstream in(log_path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  bool start() {
    port_ = free_port();
    std::vector<std::string> args = {
        "/usr/sbin/dnsmasq",
        "--port=" + std::to_string(port_),
        "--listen-address=127.0.0.1",
        "--bind-interfaces",
        "--no-resolv",
        "--no-hosts",
        "--conf-file=/dev/null",
        "--keep-in-foreground",
        "--pid-file=",
        "--log-facility=-",
        "--log-queries",
        "--local-ttl=" + std::to_string(local_ttl_),
        "--local=/test/",  // unknown names under .test: NXDOMAIN from dnsmasq itself
        "--mx-host=example.test,mx1.example.test,10",
        "--mx-host=example.test,mx2.example.test,20",
        "--host-record=mx1.example.test,127.0.0.1",
        "--host-record=mx2.example.test,192.0.2.2,2001:db8::2",
        "--host-record=v6.example.test,2001:db8::6",
        "--dns-rr=nullmx.test,15,000000",  // preference 0, target "." (RFC 7505)
        "--txt-record=txt.example.test,v=spf1 -all",
        "--txt-record=long.example.test," + kLongTxt.substr(0, 400) + "," +
            kLongTxt.substr(400, 400) + "," + kLongTxt.substr(800, 400) + "," +
            kLongTxt.substr(1200),
        "--txt-record=multi.example.test,one,two",
        "--txt-record=multi.example.test,three",
        "--ptr-record=25.2.0.192.in-addr.arpa,mail.example.test",
        "--ptr-record=25.2.0.192.in-addr.arpa,SMTP.Example.Test",
    };
    args.insert(args.end(), extra_.begin(), extra_.end());
    // As root, stay root: a change of user would clear the parent-death signal below.
    if (geteuid() == 0) {
      args.push_back("--user=root");
      args.push_back("--group=root");
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = fork();
    BOOST_TEST_REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive a crashed test
      int fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      execv(argv[0], argv.data());
      _exit(127);
    }
    for (int i = 0; i < 100; ++i) {
      if (probe(port_, "mx1.example.test")) return true;
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {  // lost the port to someone: try another
        pid_ = -1;
        return false;
      }
    }
    stop();
    return false;
  }

  int local_ttl_;
  std::vector<std::string> extra_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::string log_path_;
};

// One dnsmasq for the tests that leave it running; killed at exit.
Dnsmasq& shared_dns() {
  static auto* dns = new Dnsmasq;
  static struct Stopper {
    ~Stopper() { delete dns; }
  } stopper;
  return *dns;
}

ResolverOptions options_for(const SocketAddress& server) {
  ResolverOptions options;
  options.servers = {server};
  options.timeout = 300ms;
  options.tries = 1;
  return options;
}

// ---- Running the loop ----

// Starts one lookup and runs the loop until its callback; checks it did not run inside the call.
template <typename R, typename Start>
R await(Loop& loop, Start start, std::chrono::milliseconds limit = 10s) {
  struct State {
    std::optional<R> result;
    bool returned = false;
    bool ran_inside = false;
  };
  auto state = std::make_shared<State>();
  start([state, &loop](R r) {
    if (!state->returned) state->ran_inside = true;
    state->result = std::move(r);
    loop.stop();
  });
  state->returned = true;
  BOOST_TEST(!state->ran_inside, "callback ran inside the call");
  if (!state->result) {
    Timer watchdog(loop, [&loop] { loop.stop(); });
    watchdog.arm(limit);
    loop.run();
  }
  BOOST_TEST_REQUIRE(state->result.has_value(), "no answer within " << limit.count() << " ms");
  return std::move(*state->result);
}

MxResult mx(Loop& loop, Resolver& r, const std::string& name) {
  return await<MxResult>(loop, [&](auto done) { r.mx(name, std::move(done)); });
}
AddressResult a(Loop& loop, Resolver& r, const std::string& name) {
  return await<AddressResult>(loop, [&](auto done) { r.a(name, std::move(done)); });
}
AddressResult addresses(Loop& loop, Resolver& r, const std::string& name) {
  return await<AddressResult>(loop, [&](auto done) { r.addresses(name, std::move(done)); });
}
TxtResult txt(Loop& loop, Resolver& r, const std::string& name) {
  return await<TxtResult>(loop, [&](auto done) { r.txt(name, std::move(done)); });
}
PtrResult ptr(Loop& loop, Resolver& r, const std::string& ip) {
  auto address = SocketAddress::parse(ip, 0).value();
  return await<PtrResult>(loop, [&](auto done) { r.ptr(address, std::move(done)); });
}

int64_t ms_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

// Runs the loop for a while, whatever happens.
void run_for(Loop& loop, std::chrono::milliseconds duration) {
  Timer stop(loop, [&loop] { loop.stop(); });
  stop.arm(duration);
  loop.run();
}

std::vector<std::string> ips(const AddressResult& r) {
  std::vector<std::string> out;
  for (const auto& address : r.addresses) out.push_back(address.ip());
  return out;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// ---- Against dnsmasq ----

BOOST_AUTO_TEST_CASE(mx_with_preferences_and_ttl) {
  Loop loop;
  auto resolver = make_cares_resolver(loop, options_for(shared_dns().address()));
  MxResult r = mx(loop, *resolver, "example.test");
  BOOST_TEST_REQUIRE(dns_status_name(r.status) == "ok", r.error);
  std::sort(r.records.begin(), r.records.end(),
            [](const MxRecord& x, const MxRecord& y) { return x.preference < y.preference; });
  BOOST_TEST_REQUIRE(r.records.size() == 2u);
  BOOST_TEST(r.records[0].preference == 10);
  BOOST_TEST(r.records[0].host == "mx1.example.test");
  BOOST_TEST(r.records[1].preference == 20);
  BOOST_TEST(r.records[1].host == "mx2.example.test");
  BOOST_TEST(r.ttl == 300u);
  BOOST_TEST(!r.authenticated);  // dnsmasq does not validate
  BOOST_TEST(r.error.empty());
}

BOOST_AUTO_TEST_CASE(names_are_case_and_trailing_dot_insensitive) {
  Loop loop;
  auto resolver = make_cares_resolver(loop, options_for(shared_dns().address()));
  MxResult r = mx(loop, *resolver, "EXAMPLE.Test.");
  BOOST_TEST_REQUIRE(dns_status_name(r.status) == "ok", r.error);
  BOOST_TEST(r.records.size() == 2u);
}

BOOST_AUTO_TEST_CASE(null_mx) {
  Loop loop;
  auto resolver = make_cares_resolver(loop, options_for(shared_dns().address()));
  MxResult r = mx(loop, *resolver, "nullmx.test");
  BOOST_TEST_REQUIRE(dns_status_name(r.status) == "ok", r.error);
  BOOST_TEST_REQUIRE(r.records.size() == 1u);
  BOOST_TEST(r.records[0].preference == 0);
  BOOST_TEST(r.records[0].host == "");
}

BOOST_AUTO_TEST_CASE(a_and_aaaa) {
  Loop loop;
  auto resolver = make_cares_resolver(loop, options_for(shared_dns().address()));
  AddressResult r = a(loop, *resolver, "mx1.example.test");
  BOOST_TEST_REQUIRE(dns_status_name(r.status) == "ok", r.error);
  BOOST_TEST(ips(r) == std::vector<std::string>{"127.0.0.1"});
  BOOST_TEST(r.addresses[0].port() == 0);
  BOOST_TEST(r.ttl == 300u);
  // v6.example.test has only AAAA.
  BOOST_TEST(dns_status_name(a(loop, *resolver, "v6.example.test").status) == "nodata");
}

BOOST_AUTO_TEST_CASE(addresses_merges_aaaa_and_a) {
  Loop loop;
  auto resolver = make_cares_resolver(loop, options_for(shared_dns().address()));
  AddressResult both = addresses(loop, *resolver, "mx2.example.test");
  BOOST_TEST_REQUIRE(dns_status_name(both.status) == "ok", both.error);
  BOOST_TEST(ips(both) == (std::vector<std::string>{"2001:db8::2", "192.0.2.2"}));
  AddressResult v6 = addresses(loop, *resolver, "v6.example.test");
  BOOST_TEST_REQUIRE(dns_status_name(v6.status) == "ok", v6.error);
  BOOST_TEST(ips(v6) == std::vector<std::string>{"2001:db8::6"});
  AddressResult v4 = addresses(loop, *resolver, "mx1.example.test");
  BOOST_TEST_REQUIRE(dns_status_name(v4.status) == "ok", v4.error);
  BOOST_TEST(ips(v4) == std::vector<std::string>{"127.0.0.1"});
  AddressResult none = addresses(loop, *resolver, "nope.example.test");
  BOOST_TEST(dns_status_name(none.status) == "nxdomain");
  BOOST_TEST(none.addresses.empty());
  BOOST_TEST(!none.error.empty());
}

BOOST_AUTO_TEST_CASE(txt_records_joined) {
  Loop loop;
  auto resolver = make_cares_resolver(loop, options_for(shared_dns().address()));
  TxtResult spf = txt(loop, *resolver, "txt.example.test");
  BOOST_TEST_REQUIRE(dns_status_name(spf.status) == "ok", spf.error);
  BOOST_TEST(spf.records == std::vector<std::string>{"v=spf1 -all"});
  BOOST_TEST(spf.ttl == 300u);
  // Over 1232 bytes: truncated over UDP, then again over TCP.
  TxtResult long_one = txt(loop, *resolver, "long.example.test");
  BOOST_TEST_REQUIRE(dns_status_name(long_one.status) == "ok", long_one.error);
  BOOST_TEST_REQUIRE(long_one.records.size() == 1u);
  BOOST_TEST(long_one.records[0] == kLongTxt);
  // Two records, one of two strings: strings join within a record, never across.
  TxtResult multi = txt(loop, *resolver, "multi.example.test");
  BOOST_TEST_REQUIRE(dns_status_name(multi.status) == "ok", multi.error);
  BOOST_TEST(sorted(multi.records) == (std::vector<std::string>{"onetwo", "three"}));
}

BOOST_AUTO_TEST_CASE(ptr_records) {
  Loop loop;
  auto resolver = make_cares_resolver(loop, options_for(shared_dns().address()));
  PtrResult two = ptr(loop, *resolver, "192.0.2.25");
  BOOST_TEST_REQUIRE(dns_status_name(two.status) == "ok", two.error);
  BOOST_TEST(sorted(two.names) ==
             (std::vector<std::string>{"mail.example.test", "smtp.example.test"}));
  BOOST_TEST(two.ttl == 300u);
  PtrResult v6 = ptr(loop, *resolver, "2001:db8::2");
  BOOST_TEST_REQUIRE(dns_status_name(v6.status) == "ok", v6.error);
  BOOST_TEST(v6.names == std::vector<std::string>{"mx2.example.test"});
  // A v4 peer seen through a dual-stack socket is looked up under in-addr.arpa.
  PtrResult mapped = ptr(loop, *resolver, "::ffff:192.0.2.25");
  BOOST_TEST(sorted(mapped.names) == sorted(two.names));
}

BOOST_AUTO_TEST_CASE(reverse_names) {
  BOOST_TEST(reverse_name(SocketAddress::parse("192.0.2.25", 0).value()) ==
             "25.2.0.192.in-addr.arpa");
  BOOST_TEST(reverse_name(SocketAddress::parse("2001:db8::567:89ab", 0).value()) ==
             "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
  BOOST_TEST(reverse_name(SocketAddress{}) == "");
}

BOOST_AUTO_TEST_CASE(nxdomain) {
  Loop loop;
  auto resolver = make_cares_resolver(loop, options_for(shared_dns().address()));
  MxResult r = mx(loop, *resolver, "nope.test");
  BOOST_TEST(dns_status_name(r.status) == "nxdomain");
  BOOST_TEST(r.ttl == 60u);  // dnsmasq sends no SOA: the RFC 2308 fallback
  BOOST_TEST(r.error.find("nope.test MX") != std::string::npos, r.error);
  BOOST_TEST(!dns_temporary(r.status));
  BOOST_TEST(dns_status_name(txt(loop, *resolver, "nope.test").status) == "nxdomain");
}

BOOST_AUTO_TEST_CASE(negative_ttl_from_the_soa) {
  // Authoritative for auth.test, dnsmasq puts its SOA (TTL and minimum 600) in negative answers.
  Dnsmasq dns(300, {"--auth-server=ns.auth.test,127.0.0.1", "--auth-zone=auth.test",
                    "--auth-ttl=600", "--host-record=h.auth.test,192.0.2.7"});
  Loop loop;
  auto resolver = make_cares_resolver(loop, options_for(dns.address()));
  MxResult nx = mx(loop, *resolver, "nx.auth.test");
  BOOST_TEST(dns_status_name(nx.status) == "nxdomain");
  BOOST_TEST(nx.ttl == 600u);
  MxResult nodata = mx(loop, *resolver, "h.auth.test");
  BOOST_TEST(dns_status_name(nodata.status) == "nodata");
  BOOST_TEST(nodata.ttl == 600u);
  AddressResult found = a(loop, *resolver, "h.auth.test");
  BOOST_TEST(ips(found) == std::vector<std::string>{"192.0.2.7"});
  BOOST_TEST(found.ttl == 600u);
}

BOOST_AUTO_TEST_CASE(nodata_when_the_name_has_other_records) {
  Loop loop;
  auto resolver = make_cares_resolver(loop, options_for(shared_dns().address()));
  MxResult r = mx(loop, *resolver, "mx1.example.test");
  BOOST_TEST(dns_status_name(r.status) == "nodata");
  BOOST_TEST(r.records.empty());
  BOOST_TEST(r.ttl == 60u);
}

BOOST_AUTO_TEST_CASE(a_name_that_cannot_exist) {
  Loop loop;
  auto resolver = make_cares_resolver(loop, options_for(shared_dns().address()));
  BOOST_TEST(dns_status_name(mx(loop, *resolver, repeat('x', 64) + ".test").status) == "nxdomain");
  BOOST_TEST(dns_status_name(mx(loop, *resolver, "").status) == "nxdomain");
}

// ---- Dead servers ----

// Counts ticks of a 20 ms timer for as long as it lives: proof the loop is not blocked.
class Ticker {
 public:
  explicit Ticker(Loop& loop) : timer_(loop, [this] { tick(); }) { timer_.arm(20ms); }
  int ticks() const { return ticks_; }

 private:
  void tick() {
    ++ticks_;
    timer_.arm(20ms);
  }
  Timer timer_;
  int ticks_ = 0;
};

BOOST_AUTO_TEST_CASE(silent_server_times_out_while_the_loop_runs) {
  Loop loop;
  UdpSocket silent;  // bound, never read: queries vanish
  auto resolver = make_cares_resolver(loop, options_for(loopback(silent.port())));
  Ticker ticker(loop);
  auto start = Clock::now();
  MxResult r = mx(loop, *resolver, "example.test");
  auto elapsed = ms_since(start);
  BOOST_TEST(dns_status_name(r.status) == "timeout");
  BOOST_TEST(dns_temporary(r.status));
  BOOST_TEST(!r.error.empty());
  BOOST_TEST(elapsed >= 250);
  BOOST_TEST(elapsed < 1500);  // timeout x tries is 300 ms
  BOOST_TEST(ticker.ticks() >= 3);
  BOOST_TEST(silent.drain() == 1);
}

BOOST_AUTO_TEST_CASE(identical_questions_in_flight_share_one_query) {
  Loop loop;
  UdpSocket silent;
  auto resolver = make_cares_resolver(loop, options_for(loopback(silent.port())));
  std::vector<std::string> got;
  for (const char* name : {"example.test", "EXAMPLE.test.", "example.test"}) {
    resolver->mx(name, [&](MxResult r) {
      got.push_back(dns_status_name(r.status));
      if (got.size() == 4) loop.stop();
    });
  }
  resolver->a("example.test", [&](AddressResult r) {
    got.push_back(dns_status_name(r.status));
    if (got.size() == 4) loop.stop();
  });
  run_for(loop, 3s);
  BOOST_TEST(got == std::vector<std::string>(4, "timeout"));
  BOOST_TEST(silent.drain() == 2);  // one MX, one A
}

BOOST_AUTO_TEST_CASE(refused_port_is_a_timeout_too) {
  Loop loop;
  auto resolver = make_cares_resolver(loop, options_for(loopback(free_port())));
  auto start = Clock::now();
  AddressResult r = addresses(loop, *resolver, "example.test");
  BOOST_TEST(dns_status_name(r.status) == "timeout");
  BOOST_TEST(ms_since(start) < 1500);
}

BOOST_AUTO_TEST_CASE(addresses_prefers_the_temporary_failure) {
  // A answered NXDOMAIN by dnsmasq; then dnsmasq is gone and AAAA cannot be asked.
  Dnsmasq dns;
  Loop loop;
  auto resolver = make_cares_resolver(loop, options_for(dns.address()));
  BOOST_TEST(dns_status_name(a(loop, *resolver, "gone.test").status) == "nxdomain");
  dns.stop();
  AddressResult r = addresses(loop, *resolver, "gone.test");
  BOOST_TEST(dns_status_name(r.status) == "timeout", r.error);
}

BOOST_AUTO_TEST_CASE(unusable_server_address_fails_every_query_later) {
  Loop loop;
  ResolverOptions options;
  options.servers = {SocketAddress{}};  // no address family at all
  auto resolver = make_cares_resolver(loop, options);
  MxResult r = mx(loop, *resolver, "example.test");
  BOOST_TEST(dns_status_name(r.status) == "servfail");
  BOOST_TEST(!r.error.empty());
}

// ---- The cache ----

BOOST_AUTO_TEST_CASE(cached_answers_need_no_server) {
  Dnsmasq dns;
  Loop loop;
  auto resolver = make_cares_resolver(loop, options_for(dns.address()));
  BOOST_TEST_REQUIRE(dns_status_name(mx(loop, *resolver, "example.test").status) == "ok");
  BOOST_TEST_REQUIRE(dns_status_name(addresses(loop, *resolver, "mx2.example.test").status) ==
                     "ok");
  BOOST_TEST_REQUIRE(dns_status_name(mx(loop, *resolver, "nope.test").status) == "nxdomain");
  BOOST_TEST_REQUIRE(dns_status_name(mx(loop, *resolver, "mx1.example.test").status) == "nodata");
  dns.stop();

  MxResult cached = mx(loop, *resolver, "Example.Test");
  BOOST_TEST_REQUIRE(dns_status_name(cached.status) == "ok", cached.error);
  BOOST_TEST(cached.records.size() == 2u);
  BOOST_TEST(cached.ttl <= 300u);
  BOOST_TEST(cached.ttl >= 290u);
  BOOST_TEST(ips(addresses(loop, *resolver, "mx2.example.test")).size() == 2u);
  BOOST_TEST(dns_status_name(mx(loop, *resolver, "nope.test").status) == "nxdomain");
  BOOST_TEST(dns_status_name(mx(loop, *resolver, "mx1.example.test").status) == "nodata");
  // Never asked before: the server is gone.
  BOOST_TEST(dns_status_name(a(loop, *resolver, "mx1.example.test").status) == "timeout");
  // Temporary failures are not cached: asking again asks the (still dead) server again.
  BOOST_TEST(dns_status_name(a(loop, *resolver, "mx1.example.test").status) == "timeout");
}

BOOST_AUTO_TEST_CASE(cache_is_bounded) {
  Dnsmasq dns;
  Loop loop;
  ResolverOptions options = options_for(dns.address());
  options.cache_entries = 1;
  auto resolver = make_cares_resolver(loop, options);
  BOOST_TEST_REQUIRE(dns_status_name(mx(loop, *resolver, "example.test").status) == "ok");
  BOOST_TEST_REQUIRE(dns_status_name(txt(loop, *resolver, "txt.example.test").status) == "ok");
  dns.stop();
  // The TXT answer pushed the MX answer out.
  BOOST_TEST(dns_status_name(txt(loop, *resolver, "txt.example.test").status) == "ok");
  BOOST_TEST(dns_status_name(mx(loop, *resolver, "example.test").status) == "timeout");
}

BOOST_AUTO_TEST_CASE(zero_ttl_answers_are_not_cached) {
  Dnsmasq dns(/*local_ttl=*/0);
  Loop loop;
  auto resolver = make_cares_resolver(loop, options_for(dns.address()));
  MxResult first = mx(loop, *resolver, "example.test");
  BOOST_TEST_REQUIRE(dns_status_name(first.status) == "ok");
  BOOST_TEST(first.ttl == 0u);
  dns.stop();
  BOOST_TEST(dns_status_name(mx(loop, *resolver, "example.test").status) == "timeout");
}

// ---- When callbacks run ----

BOOST_AUTO_TEST_CASE(cache_hits_are_answered_later_too) {
  Loop loop;
  auto resolver = make_cares_resolver(loop, options_for(shared_dns().address()));
  BOOST_TEST_REQUIRE(dns_status_name(mx(loop, *resolver, "example.test").status) == "ok");
  // From inside a callback, a cache hit: still not run inside the call.
  bool returned = false, inside = false, answered = false;
  resolver->txt("txt.example.test", [&](TxtResult) {
    resolver->mx("example.test", [&](MxResult r) {
      inside = !returned;
      answered = r.status == DnsStatus::kOk;
      loop.stop();
    });
    returned = true;
  });
  run_for(loop, 5s);
  BOOST_TEST(answered);
  BOOST_TEST(!inside);
}

BOOST_AUTO_TEST_CASE(destroying_the_resolver_drops_its_callbacks) {
  Loop loop;
  UdpSocket silent;
  auto cached = make_cares_resolver(loop, options_for(shared_dns().address()));
  BOOST_TEST_REQUIRE(dns_status_name(mx(loop, *cached, "example.test").status) == "ok");
  auto resolver = make_cares_resolver(loop, options_for(loopback(silent.port())));
  int calls = 0;
  resolver->mx("example.test", [&](MxResult) { ++calls; });
  resolver->addresses("example.test", [&](AddressResult) { ++calls; });
  resolver->txt("example.test", [&](TxtResult) { ++calls; });
  cached->mx("example.test", [&](MxResult) { ++calls; });  // a cache hit, already posted
  resolver.reset();
  cached.reset();
  run_for(loop, 600ms);  // past the 300 ms timeout
  BOOST_TEST(calls == 0);
}

BOOST_AUTO_TEST_CASE(a_callback_may_destroy_the_resolver) {
  Loop loop;
  auto resolver = make_cares_resolver(loop, options_for(shared_dns().address()));
  int mx_calls = 0;
  bool txt_after_destruction = false;
  // Both share one query and so one delivery: the second must not run after the first
  // destroyed the resolver.
  for (int i = 0; i < 2; ++i) {
    resolver->mx("example.test", [&](MxResult) {
      ++mx_calls;
      resolver.reset();
      loop.stop();
    });
  }
  // Answered before or after the MX; if after, never.
  resolver->txt("txt.example.test", [&](TxtResult) { txt_after_destruction = !resolver; });
  run_for(loop, 3s);
  run_for(loop, 200ms);
  BOOST_TEST(mx_calls == 1);
  BOOST_TEST(!txt_after_destruction);
}

BOOST_AUTO_TEST_CASE(a_callback_may_start_lookups) {
  Loop loop;
  auto resolver = make_cares_resolver(loop, options_for(shared_dns().address()));
  std::vector<std::string> hosts;
  resolver->mx("example.test", [&](MxResult r) {
    for (const auto& record : r.records) {
      resolver->addresses(record.host, [&, host = record.host](AddressResult ar) {
        hosts.push_back(host + "=" + std::to_string(ar.addresses.size()));
        if (hosts.size() == 2) loop.stop();
      });
    }
  });
  run_for(loop, 5s);
  BOOST_TEST(sorted(hosts) ==
             (std::vector<std::string>{"mx1.example.test=1", "mx2.example.test=2"}));
}

// ---- Parsers on raw bytes ----

// Builds DNS messages byte by byte.
class Message {
 public:
  Message(uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar) {
    for (uint16_t v : {uint16_t{0x1234}, flags, qd, an, ns, ar}) u16(v);
  }
  Message& u8(uint8_t v) {
    b_.push_back(v);
    return *this;
  }
  Message& u16(uint16_t v) { return u8(v >> 8).u8(v & 0xFF); }
  Message& u32(uint32_t v) { return u16(v >> 16).u16(v & 0xFFFF); }
  Message& name(const std::string& dotted) {
    std::stringstream labels(dotted);
    for (std::string label; std::getline(labels, label, '.');) {
      u8(static_cast<uint8_t>(label.size()));
      b_.insert(b_.end(), label.begin(), label.end());
    }
    return u8(0);
  }
  Message& pointer(uint16_t offset) { return u16(0xC000 | offset); }
  Message& question(const std::string& qname, uint16_t type) {
    return name(qname).u16(type).u16(1);
  }
  // An RR whose owner is the question name (at offset 12).
  Message& rr(uint16_t type, uint32_t ttl, const std::vector<uint8_t>& rdata) {
    pointer(12).u16(type).u16(1).u32(ttl).u16(static_cast<uint16_t>(rdata.size()));
    b_.insert(b_.end(), rdata.begin(), rdata.end());
    return *this;
  }
  Message& soa(uint32_t ttl, uint32_t minimum) {
    // mname and rname "." to keep it short, then serial refresh retry expire minimum.
    std::vector<uint8_t> rdata = {0, 0};
    for (uint32_t v : {1u, 2u, 3u, 4u, minimum}) {
      for (int shift = 24; shift >= 0; shift -= 8) rdata.push_back((v >> shift) & 0xFF);
    }
    return rr(6, ttl, rdata);
  }
  const std::vector<uint8_t>& bytes() const { return b_; }

 private:
  std::vector<uint8_t> b_;
};

constexpr uint16_t kNoError = 0x8180;  // QR RD RA
constexpr uint16_t kNxDomain = 0x8183;

std::vector<uint8_t> mx_rdata(uint16_t preference, const std::string& host) {
  std::vector<uint8_t> out = {static_cast<uint8_t>(preference >> 8),
                              static_cast<uint8_t>(preference & 0xFF)};
  Message n(0, 0, 0, 0, 0);
  n.name(host);
  out.insert(out.end(), n.bytes().begin() + 12, n.bytes().end());
  return out;
}

MxResult parse_mx(const Message& m) {
  return parse_mx_response(m.bytes().data(), m.bytes().size());
}

BOOST_AUTO_TEST_CASE(raw_null_mx_and_host_case) {
  Message m(kNoError, 1, 2, 0, 0);
  m.question("example.test", 15)
      .rr(15, 3600, mx_rdata(0, ""))
      .rr(15, 100, mx_rdata(5, "MX.Example.TEST"));
  MxResult r = parse_mx(m);
  BOOST_TEST_REQUIRE(dns_status_name(r.status) == "ok", r.error);
  BOOST_TEST_REQUIRE(r.records.size() == 2u);
  BOOST_TEST(r.records[0].host == "");
  BOOST_TEST(r.records[1].host == "mx.example.test");
  BOOST_TEST(r.ttl == 100u);  // the least of the answers
  BOOST_TEST(!r.authenticated);
}

BOOST_AUTO_TEST_CASE(raw_ad_bit) {
  Message m(kNoError | 0x0020, 1, 1, 0, 0);
  m.question("example.test", 15).rr(15, 60, mx_rdata(10, "mx.example.test"));
  BOOST_TEST(parse_mx(m).authenticated);
}

BOOST_AUTO_TEST_CASE(raw_negative_ttl_from_soa) {
  Message nx(kNxDomain, 1, 0, 1, 0);
  nx.question("nope.test", 15).soa(900, 300);
  MxResult r = parse_mx(nx);
  BOOST_TEST(dns_status_name(r.status) == "nxdomain");
  BOOST_TEST(r.ttl == 300u);  // min(SOA TTL, SOA minimum)
  Message nodata(kNoError, 1, 0, 1, 0);
  nodata.question("example.test", 16).soa(120, 3600);
  TxtResult t = parse_txt_response(nodata.bytes().data(), nodata.bytes().size());
  BOOST_TEST(dns_status_name(t.status) == "nodata");
  BOOST_TEST(t.ttl == 120u);
}

BOOST_AUTO_TEST_CASE(raw_rcodes_and_ttl_top_bit) {
  Message servfail(0x8182, 1, 0, 0, 0);
  servfail.question("example.test", 15);
  BOOST_TEST(dns_status_name(parse_mx(servfail).status) == "servfail");
  Message refused(0x8185, 1, 0, 0, 0);
  refused.question("example.test", 15);
  BOOST_TEST(parse_mx(refused).error == "REFUSED");
  Message query(0x0100, 1, 0, 0, 0);  // not a response
  query.question("example.test", 15);
  BOOST_TEST(dns_status_name(parse_mx(query).status) == "servfail");
  Message huge(kNoError, 1, 1, 0, 0);
  huge.question("example.test", 15).rr(15, 0x80000000u, mx_rdata(1, "mx.example.test"));
  BOOST_TEST(parse_mx(huge).ttl == 0u);  // RFC 2181 §8
}

BOOST_AUTO_TEST_CASE(raw_cname_without_the_type_is_nodata) {
  Message m(kNoError, 1, 1, 0, 0);
  std::vector<uint8_t> target = {5, 'o', 't', 'h', 'e', 'r', 0xC0, 12};
  m.question("alias.test", 1).rr(5, 30, target);
  AddressResult r = parse_address_response(m.bytes().data(), m.bytes().size(), AF_INET);
  BOOST_TEST(dns_status_name(r.status) == "nodata");
}

BOOST_AUTO_TEST_CASE(raw_compression_loop_is_a_bad_answer) {
  // The MX target points at itself.
  Message m(kNoError, 1, 1, 0, 0);
  m.question("example.test", 15);
  // After owner (2), type, class, TTL, rdlength (10) and preference (2).
  size_t target = m.bytes().size() + 14;
  m.rr(15, 60, {0, 10, static_cast<uint8_t>(0xC0 | (target >> 8)), static_cast<uint8_t>(target)});
  MxResult r = parse_mx(m);
  BOOST_TEST(dns_status_name(r.status) == "servfail");
  BOOST_TEST(r.records.empty());
}

BOOST_AUTO_TEST_CASE(raw_addresses_and_ptr) {
  Message a4(kNoError, 1, 2, 0, 0);
  a4.question("h.test", 1).rr(1, 50, {192, 0, 2, 1}).rr(1, 40, {192, 0, 2, 2});
  AddressResult r = parse_address_response(a4.bytes().data(), a4.bytes().size(), AF_INET);
  BOOST_TEST_REQUIRE(dns_status_name(r.status) == "ok", r.error);
  BOOST_TEST(ips(r) == (std::vector<std::string>{"192.0.2.1", "192.0.2.2"}));
  BOOST_TEST(r.ttl == 40u);
  Message p(kNoError, 1, 1, 0, 0);
  p.question("1.2.0.192.in-addr.arpa", 12).rr(12, 70, {1, 'H', 4, 't', 'e', 's', 't', 0});
  PtrResult pr = parse_ptr_response(p.bytes().data(), p.bytes().size());
  BOOST_TEST_REQUIRE(dns_status_name(pr.status) == "ok", pr.error);
  BOOST_TEST(pr.names == std::vector<std::string>{"h.test"});
  BOOST_TEST(pr.ttl == 70u);
}

// Every parser on every prefix of valid messages and on random corruptions of them: nothing
// may crash (run under the sanitizers), and a cut message is never an answer.
BOOST_AUTO_TEST_CASE(raw_truncated_and_corrupted_messages) {
  Message mx_msg(kNoError, 1, 2, 1, 0);
  mx_msg.question("example.test", 15)
      .rr(15, 60, mx_rdata(10, "mx1.example.test"))
      .rr(15, 60, {0, 20, 3, 'm', 'x', '2', 0xC0, 12})
      .soa(60, 60);
  Message txt_msg(kNoError, 1, 1, 0, 0);
  txt_msg.question("t.test", 16).rr(16, 60, {3, 'o', 'n', 'e', 3, 't', 'w', 'o'});
  Message a_msg(kNoError, 1, 1, 0, 0);
  a_msg.question("h.test", 28).rr(28, 60, std::vector<uint8_t>(16, 1));
  Message ptr_msg(kNoError, 1, 1, 0, 0);
  ptr_msg.question("1.2.0.192.in-addr.arpa", 12).rr(12, 70, {1, 'h', 0xC0, 12});
  auto all = [](const std::vector<uint8_t>& b) {
    int ok = 0;
    ok += parse_mx_response(b.data(), b.size()).status == DnsStatus::kOk;
    ok += parse_txt_response(b.data(), b.size()).status == DnsStatus::kOk;
    ok += parse_ptr_response(b.data(), b.size()).status == DnsStatus::kOk;
    ok += parse_address_response(b.data(), b.size(), AF_INET).status == DnsStatus::kOk;
    ok += parse_address_response(b.data(), b.size(), AF_INET6).status == DnsStatus::kOk;
    return ok;
  };
  std::mt19937 random(20261128);
  for (const Message* m : {&mx_msg, &txt_msg, &a_msg, &ptr_msg}) {
    const std::vector<uint8_t>& whole = m->bytes();
    BOOST_TEST(all(whole) == 1);
    for (size_t n = 0; n < whole.size(); ++n) {
      std::vector<uint8_t> cut(whole.begin(), whole.begin() + n);
      BOOST_TEST(all(cut) == 0, "prefix of " << n << " bytes");
    }
    for (int i = 0; i < 5000; ++i) {
      std::vector<uint8_t> bad = whole;
      for (int flips = 1 + i % 4; flips > 0; --flips) bad[random() % bad.size()] = random() & 0xFF;
      all(bad);
    }
  }
  BOOST_TEST(all({}) == 0);
}

BOOST_AUTO_TEST_CASE(raw_tlsa_records_and_ad_bit) {
  Message m(kNoError | 0x0020, 1, 3, 0, 0);
  m.question("_25._tcp.mx.example.test", 52)
      .rr(52, 300, {3, 1, 1, 0xAB, 0xCD})
      .rr(46, 300, {0, 52, 13})  // an RRSIG beside it is not a TLSA record
      .rr(52, 120, {2, 0, 2, 0x01});
  TlsaResult r = parse_tlsa_response(m.bytes().data(), m.bytes().size());
  BOOST_TEST_REQUIRE(dns_status_name(r.status) == "ok", r.error);
  BOOST_TEST(r.authenticated);
  BOOST_TEST_REQUIRE(r.records.size() == 2u);
  BOOST_TEST(r.records[0].usage == 3);
  BOOST_TEST(r.records[0].selector == 1);
  BOOST_TEST(r.records[0].mtype == 1);
  BOOST_TEST(r.records[0].data == std::string("\xAB\xCD"));
  BOOST_TEST(r.records[1].usage == 2);
  BOOST_TEST(r.records[1].data == std::string("\x01"));
  BOOST_TEST(r.ttl == 120u);
}

BOOST_AUTO_TEST_CASE(raw_tlsa_short_record_is_servfail) {
  Message m(kNoError, 1, 1, 0, 0);
  m.question("_25._tcp.mx.example.test", 52).rr(52, 300, {3, 1});
  TlsaResult r = parse_tlsa_response(m.bytes().data(), m.bytes().size());
  BOOST_TEST(dns_status_name(r.status) == "servfail");
  BOOST_TEST(r.records.empty());
}

BOOST_AUTO_TEST_CASE(raw_tlsa_nodata_keeps_ad_bit) {
  Message m(kNoError | 0x0020, 1, 0, 1, 0);
  m.question("_25._tcp.mx.example.test", 52).soa(300, 60);
  TlsaResult r = parse_tlsa_response(m.bytes().data(), m.bytes().size());
  BOOST_TEST(dns_status_name(r.status) == "nodata");
  BOOST_TEST(r.authenticated);  // a secure denial: no DANE for this host
}

}  // namespace
}  // namespace hato::net
