#include "admin/server/static_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "relay/common/log.h"

namespace cv::admin {

namespace {

constexpr char kCsp[] =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob: mediastream:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

bool SafeSegment(std::string_view s) {
  if (s.empty() || s.size() > 255 || s[0] == '.') return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// realpath(3), or nullopt.
std::optional<std::string> RealPath(const std::string& path) {
  std::unique_ptr<char, decltype(&std::free)> resolved(realpath(path.c_str(), nullptr), &std::free);
  if (!resolved) return std::nullopt;
  return std::string(resolved.get());
}

http::Response NotFound() { return http::Problem(404, "NOT_FOUND", "no such resource"); }

http::Response Redirect(std::string location) {
  http::Response r;
  r.status = 301;
  r.content_type = "text/plain; charset=utf-8";
  r.body = "moved to " + location + "\n";
  r.headers.emplace_back("Location", std::move(location));
  return r;
}

}  // namespace

std::optional<StaticFiles> StaticFiles::Open(const std::string& root, std::string* error) {
  auto real = RealPath(root);
  struct stat st {};
  if (!real || stat(real->c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    *error = "web-root " + root + ": not a directory";
    return std::nullopt;
  }
  if (real->size() > 1 && real->back() == '/') real->pop_back();
  return StaticFiles(*real);
}

std::string_view StaticFiles::ContentType(std::string_view name) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 14> kTypes = {{
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".txt", "text/plain; charset=utf-8"},
      {".md", "text/markdown; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".ico", "image/x-icon"},
      {".webp", "image/webp"},
      {".wasm", "application/wasm"},
  }};
  const size_t dot = name.rfind('.');
  if (dot != std::string_view::npos) {
    const std::string_view ext = name.substr(dot);
    for (const auto& [suffix, type] : kTypes) {
      if (ext == suffix) return type;
    }
  }
  return "application/octet-stream";
}

http::Response StaticFiles::Serve(const http::Request& request,
                                  std::span<const std::string> path) const {
  if (request.method != "GET" && request.method != "HEAD") {
    return http::MethodNotAllowed(request, "GET, HEAD");
  }
  if (path.empty()) return Redirect(std::string("/") + kStaticPrefix + "/");  // "/app"
  // Every segment is checked before the disk is touched; only the last may be empty ("dir/").
  std::string relative;
  for (size_t i = 0; i < path.size(); ++i) {
    const bool last = i + 1 == path.size();
    if (last && path[i].empty()) break;
    if (!SafeSegment(path[i])) return NotFound();
    if (!relative.empty()) relative += '/';
    relative += path[i];
  }
  const bool directory_wanted = path.back().empty();
  std::string file = root_;
  if (!relative.empty()) file += "/" + relative;
  if (directory_wanted) file += "/index.html";

  // Symbolic links may point anywhere: what counts is where the path really ends up.
  auto real = RealPath(file);
  if (!real || real->compare(0, root_.size() + 1, root_ + "/") != 0) return NotFound();
  struct stat st {};
  if (stat(real->c_str(), &st) != 0) return NotFound();
  if (S_ISDIR(st.st_mode)) {
    if (directory_wanted) return NotFound();
    return Redirect(std::string("/") + kStaticPrefix + "/" + relative + "/");
  }
  if (!S_ISREG(st.st_mode)) return NotFound();
  if (static_cast<uint64_t>(st.st_size) > kMaxStaticFileBytes) {
    CV_WARN("static.too_large", "bytes=%lld limit=%zu", static_cast<long long>(st.st_size),
            kMaxStaticFileBytes);
    return NotFound();
  }

  const int fd = open(real->c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return NotFound();
  std::string body;
  body.resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < body.size()) {
    const ssize_t n = read(fd, body.data() + done, body.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  close(fd);
  body.resize(done);  // a file that shrank meanwhile is served as read

  http::Response r;
  r.status = 200;
  r.content_type = std::string(ContentType(*real));
  r.body = std::move(body);
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back("Content-Security-Policy", kCsp);
  return r;
}

}  // namespace cv::admin
