// dkim_test_util.h - helpers for the DKIM tests: temp dirs, running outside tools, keys made by
// `hato dkim keygen`, and a key lookup backed by a table.
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cli/dkim_cmd.h"
#include "policy/dkim/key.h"
#include "policy/dkim/verifier.h"
#include "tests/temp_dir.h"

namespace hato::dkim {
// So that BOOST_TEST can print a Verdict.
inline std::ostream& operator<<(std::ostream& os, Verdict v) {
  return os << verdict_name(v);
}
}  // namespace hato::dkim

namespace hato::dkim::testing {

using ::hato::testing::TempDir;

inline void write_file(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  out << data;
  BOOST_TEST_REQUIRE(out.good(), path);
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct RunResult {
  int status = -1;     // exit status, -1 when it did not exit normally
  std::string output;  // stdout and stderr together
};

// Runs `command` with /bin/sh, collecting what it prints.
inline RunResult run(const std::string& command) {
  RunResult r;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  int status = pclose(p);
  if (WIFEXITED(status)) r.status = WEXITSTATUS(status);
  return r;
}

inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct CommandOutput {
  int status;
  std::string out;
  std::string err;
};

// Runs `hato dkim ARGS` in-process, capturing what it prints.
inline CommandOutput dkim_cli(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  auto* old_out = std::cout.rdbuf(out.rdbuf());
  auto* old_err = std::cerr.rdbuf(err.rdbuf());
  int status = hato::cli::dkim_command(args);
  std::cout.rdbuf(old_out);
  std::cerr.rdbuf(old_err);
  return {status, out.str(), err.str()};
}

// A zone-file TXT line, taken apart: owner name and the strings joined.
struct ZoneTxt {
  std::string owner;
  std::vector<std::string> strings;
  std::string joined;
};

inline ZoneTxt parse_zone_txt(const std::string& line) {
  ZoneTxt z;
  z.owner = line.substr(0, line.find(' '));
  size_t pos = 0;
  while ((pos = line.find('"', pos)) != std::string::npos) {
    size_t end = line.find('"', pos + 1);
    BOOST_TEST_REQUIRE(end != std::string::npos, line);
    z.strings.push_back(line.substr(pos + 1, end - pos - 1));
    z.joined += z.strings.back();
    pos = end + 1;
  }
  return z;
}

// A key made by `hato dkim keygen`: the file it wrote, the record it printed, and the key
// loaded back from the file.
struct GeneratedKey {
  std::string pem_path;
  std::string record_name;  // without the trailing dot
  std::string record;       // the TXT strings joined
  DkimKey key;
};

inline GeneratedKey keygen(const TempDir& dir, const std::string& domain,
                           const std::string& selector, Algorithm alg) {
  GeneratedKey g;
  g.pem_path = dir / (domain + "." + selector + ".pem");
  auto r = dkim_cli({"keygen", "--domain", domain, "--selector", selector, "--algorithm",
                     std::string(algorithm_name(alg)), "--out", g.pem_path});
  BOOST_TEST_REQUIRE(r.status == 0, r.err);
  ZoneTxt z = parse_zone_txt(r.out);
  g.record_name = z.owner.substr(0, z.owner.size() - 1);
  g.record = z.joined;
  auto key = load_key(g.pem_path, domain, selector, alg);
  BOOST_TEST_REQUIRE(key.is_ok(), key.message());
  g.key = *key;
  return g;
}

// A KeyLookup answering from a table; names not in it are NXDOMAIN.
inline KeyLookup table_lookup(std::map<std::string, std::vector<std::string>> table) {
  return [table = std::move(table)](const std::string& name,
                                    std::function<void(TxtLookupResult)> done) {
    TxtLookupResult r;
    auto it = table.find(name);
    if (it == table.end()) {
      r.status = TxtLookupResult::Status::kNxDomain;
    } else {
      r.status = TxtLookupResult::Status::kOk;
      r.records = it->second;
    }
    done(r);
  };
}

// Verifies synchronously (the table lookup answers at once).
inline std::vector<SignatureResult> verify_now(std::string_view message, const KeyLookup& lookup,
                                               int64_t now) {
  std::vector<SignatureResult> results;
  bool called = false;
  Verifier().verify(message, now, lookup, [&](std::vector<SignatureResult> r) {
    results = std::move(r);
    called = true;
  });
  BOOST_TEST_REQUIRE(called);
  return results;
}

inline std::string verdicts(const std::vector<SignatureResult>& results) {
  std::string s;
  for (const auto& r : results) {
    if (!s.empty()) s += ' ';
    s += verdict_name(r.verdict);
  }
  return s;
}

inline std::string reasons(const std::vector<SignatureResult>& results) {
  std::string s;
  for (const auto& r : results) s += "[" + r.reason + "]";
  return s;
}

}  // namespace hato::dkim::testing
