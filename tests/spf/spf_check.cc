// spf_check.cc - one SPF check through the real c-ares resolver, for the RFC 7208 suite runner.
//
//   spf_check --dns 127.0.0.1:5353 --ip 192.0.2.1 --sender a@example.com --helo mx.example.com
//             [--default-exp TEXT] [--receiver NAME] [--timeout-ms N]
//
// Prints "result: <name>", "explanation: <text>" and "problem: <text>", one per line; the exit
// status is 0 whenever a result was reached, 2 for bad arguments.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>

#include "common/loop.h"
#include "common/net.h"
#include "net/resolver.h"
#include "policy/spf/spf.h"

namespace {

int usage(const std::string& why) {
  std::cerr << "spf_check: " << why
            << "\nusage: spf_check --dns HOST:PORT --ip IP --sender ADDR --helo NAME"
               " [--default-exp TEXT] [--receiver NAME] [--timeout-ms N]\n";
  return 2;
}

// Explanations come from DNS: keep them on one line.
std::string one_line(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace hato;
  std::map<std::string, std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string key = argv[i];
    if (key.rfind("--", 0) != 0 || i + 1 >= argc) return usage("bad argument " + key);
    args[key.substr(2)] = argv[++i];
  }
  for (const char* required : {"dns", "ip", "sender", "helo"}) {
    if (!args.count(required)) return usage(std::string("--") + required + " is required");
  }
  auto server = SocketAddress::parse(args["dns"], 53);
  if (!server) return usage("--dns: " + server.message());
  auto ip = SocketAddress::parse(args["ip"], 0);
  if (!ip) return usage("--ip: " + ip.message());

  Loop loop;
  net::ResolverOptions dns;
  dns.servers.push_back(*server);
  dns.timeout = std::chrono::milliseconds(
      args.count("timeout-ms") ? std::atoi(args["timeout-ms"].c_str()) : 1000);
  dns.tries = 1;
  auto resolver = net::make_cares_resolver(loop, dns);

  policy::spf::SpfOptions options;
  if (args.count("default-exp")) options.default_explanation = args["default-exp"];
  if (args.count("receiver")) options.receiver = args["receiver"];

  policy::spf::SpfOutcome outcome;
  bool finished = false;
  policy::spf::check_host(policy::spf::make_resolver_spf_dns(*resolver), options,
                          policy::spf::mail_from_request(*ip, args["sender"], args["helo"]),
                          [&](policy::spf::SpfOutcome o) {
                            outcome = std::move(o);
                            finished = true;
                            loop.stop();
                          });
  // The evaluation has its own time limit; this only guards against a hang in the harness.
  // A Timer rather than Loop::after, whose callback would leak if it never fires.
  Timer guard(loop, [&loop] { loop.stop(); });
  guard.arm(std::chrono::seconds(60));
  if (!finished) loop.run();
  if (!finished) {
    std::cerr << "spf_check: no result within 60 s\n";
    return 1;
  }
  std::cout << "result: " << policy::spf::spf_result_name(outcome.result) << "\n"
            << "explanation: " << one_line(outcome.explanation) << "\n"
            << "problem: " << one_line(outcome.problem) << "\n";
  return 0;
}
