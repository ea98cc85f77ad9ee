// ossl.h - policy/dkim's name for the tree's OpenSSL owners (common/ossl.h).
#pragma once

#include "common/ossl.h"

namespace hato::dkim {
namespace ossl = hato::ossl;
}  // namespace hato::dkim
