// Lower-case hexadecimal text, and random ids made of it (session ids, token ids): ids that are
// safe in URLs, logs, SQL parameters and claims as they stand.
// Threading: pure functions (RandomHex draws from OpenSSL's CSPRNG, which is thread-safe).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace cv {

std::string HexEncode(std::string_view bytes);
// 2 × `bytes` hex digits from a cryptographic random source; empty if the source fails.
std::string RandomHex(size_t bytes);

}  // namespace cv
