// json.h - the CLI reads the admin API's JSON with the reader in common/json.h.
#pragma once

#include "common/json.h"

namespace hato::cli {
using hato::JsonValue;
using hato::parse_json;
}  // namespace hato::cli
