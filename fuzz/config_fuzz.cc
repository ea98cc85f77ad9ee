// config_fuzz.cc - the YAML configuration loader on hostile text.
//
// Invariants: load_string never throws (yaml-cpp does, so the loader must
// catch); it gives a config or errors, never both nor neither; every error
// names the file with a line and column.
#include <cstddef>
#include <cstdint>
#include <string>

#include "conf/config.h"
#include "fuzz/fuzz_util.h"

using namespace hato;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string yaml(reinterpret_cast<const char*>(data), size);
  if (fuzz::known_bug("yaml-cpp"))
    for (unsigned char c : yaml)
      if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return 0;
  conf::LoadResult r = conf::load_string(yaml, "fuzz.yaml");
  FUZZ_CHECK(r.ok() || !r.errors.empty(), "neither a config nor an error");
  FUZZ_CHECK(!(r.config && !r.errors.empty()), "a config and errors");
  for (const auto& e : r.errors) FUZZ_CHECK(e.rfind("fuzz.yaml:", 0) == 0, "error without FILE:");
  if (r.ok()) {
    FUZZ_CHECK(!r.config->hostname.empty(), "config without a hostname");
    for (const auto& d : r.config->domains) {
      FUZZ_CHECK(!d.name.empty(), "domain without a name");
      for (char c : d.name) FUZZ_CHECK(!(c >= 'A' && c <= 'Z'), "domain name not lower case");
    }
  }
  return 0;
}
