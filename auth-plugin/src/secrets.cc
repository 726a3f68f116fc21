#include "cv/auth/secrets.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "cv/auth/claims.h"

namespace cv::auth {

namespace {

// A secrets file holds a handful of lines; anything much bigger is not one.
constexpr size_t kMaxSecretsFileSize = 1 << 20;

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

// Splits off the next blank-separated field of `*line`; empty at the end of the line.
std::string_view NextField(std::string_view* line) {
  size_t i = 0;
  while (i < line->size() && IsBlank((*line)[i])) ++i;
  size_t j = i;
  while (j < line->size() && !IsBlank((*line)[j])) ++j;
  const std::string_view field = line->substr(i, j - i);
  line->remove_prefix(j);
  return field;
}

// 1-19 decimal digits, no sign, > 0, fitting in int64_t.
bool ParseNotAfter(std::string_view s, int64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    const int d = c - '0';
    if (v > (INT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  if (v == 0) return false;
  *out = v;
  return true;
}

}  // namespace

//   <key-id> <secret> [<not-after>] [# comment]
//   2026a    Zm9vYmFyYmF6cXV1eDEyMzQ1  1798761600
// A field that starts with '#' starts a comment, so does a line whose first non-blank byte is
// '#'. A '#' inside a secret is part of the secret: cutting the line there would shorten the
// secret silently.
std::optional<std::vector<Secret>> ParseSecretsFile(std::string_view text, std::string_view source,
                                                    std::string* error) {
  std::vector<Secret> secrets;
  std::map<std::string, size_t, std::less<>> first_line;  // key id → line number
  size_t line_number = 0;
  auto fail = [&](std::string_view what) {
    if (error != nullptr) {
      *error = std::string(source) + ":" + std::to_string(line_number) + ": " + std::string(what);
    }
    return std::nullopt;
  };
  while (!text.empty()) {
    ++line_number;
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);

    std::string_view fields[3];
    size_t count = 0;
    for (std::string_view f = NextField(&line); !f.empty() && f[0] != '#'; f = NextField(&line)) {
      if (count == 3) return fail("unexpected text after the not-after time");
      fields[count++] = f;
    }
    if (count == 0) continue;  // blank or comment

    Secret s;
    if (!IsValidKeyId(fields[0])) return fail("key id is not [A-Za-z0-9_-]{1,16}");
    s.key_id = std::string(fields[0]);
    if (count < 2) return fail("secret missing after the key id");
    for (char c : fields[1]) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        return fail("secret contains a control byte");
      }
    }
    if (fields[1].size() < kMinSecretFileLength) {
      return fail("secret is shorter than " + std::to_string(kMinSecretFileLength) + " bytes");
    }
    s.value = std::string(fields[1]);
    if (count == 3 && !ParseNotAfter(fields[2], &s.not_after)) {
      return fail("not-after is not a positive Unix time in seconds");
    }
    if (auto [it, inserted] = first_line.emplace(s.key_id, line_number); !inserted) {
      return fail("key id '" + s.key_id + "' already used on line " + std::to_string(it->second));
    }
    secrets.push_back(std::move(s));
  }
  if (secrets.empty()) {
    if (error != nullptr) *error = std::string(source) + ": no secret in the file";
    return std::nullopt;
  }
  return secrets;
}

std::optional<std::string> ReadPrivateFile(const std::string& path, size_t max_bytes,
                                           std::string* error) {
  auto fail = [&](std::string_view what) {
    if (error != nullptr) *error = path + ": " + std::string(what);
    return std::nullopt;
  };
  const std::string too_large = "larger than " + std::to_string(max_bytes) + " bytes";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return fail(std::strerror(errno));
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};

  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail(std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return fail("not a regular file");
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return fail("group or others have access to it; chmod 600");
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) return fail(too_large);

  std::string text;
  text.reserve(static_cast<size_t>(st.st_size) + 1);
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      OPENSSL_cleanse(text.data(), text.size());
      return fail(std::strerror(errno));
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > max_bytes) {
      OPENSSL_cleanse(text.data(), text.size());
      return fail(too_large);
    }
  }
  OPENSSL_cleanse(buf, sizeof(buf));
  return text;
}

std::optional<std::vector<Secret>> LoadSecretsFile(const std::string& path, std::string* error) {
  std::optional<std::string> text = ReadPrivateFile(path, kMaxSecretsFileSize, error);
  if (!text) return std::nullopt;
  auto secrets = ParseSecretsFile(*text, path, error);
  // The text held every secret; do not leave it in freed memory.
  OPENSSL_cleanse(text->data(), text->size());
  return secrets;
}

const Secret* PickSecret(const std::vector<Secret>& secrets, std::string_view key_id, int64_t now) {
  for (const Secret& s : secrets) {
    if (!s.ActiveAt(now)) continue;
    if (key_id.empty() || s.key_id == key_id) return &s;
  }
  return nullptr;
}

}  // namespace cv::auth
