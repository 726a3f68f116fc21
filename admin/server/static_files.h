// Static files for the web client (`web-root`), served by cvadmin's client listener under /app/
// so that a page and the client API share one origin (no CORS, and the page is a secure context
// whenever the API is on TLS).
//
//   GET /app/<path>      the file root/<path>, with its content type
//   GET /app/<dir>/      root/<dir>/index.html
//   GET /app/<dir>       301 to /app/<dir>/ when it is a directory (and /app → /app/)
//
// What it refuses (404, the same answer as a missing file, so nothing about the disk shows): any
// path segment that is empty (but the last), starts with '.', or has a character outside
// [A-Za-z0-9._-] after percent-decoding ("..", "%2e%2e", "a%2Fb", NUL, '\' …); anything whose
// real path (symbolic links resolved) is not inside the root; anything but a regular file; files
// over kMaxStaticFileBytes. No directory listings. Methods other than GET and HEAD get 405.
// Replies carry "X-Content-Type-Options: nosniff", "Referrer-Policy: no-referrer" and a
// Content-Security-Policy that allows only same-origin scripts, styles and connections.
//
// Threading: Serve() reads the file on the calling thread (cvadmin's event loop); the files are a
// small page and a module, read in microseconds. Safe to call from one thread at a time.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "relay/common/http_server.h"

namespace cv::admin {

inline constexpr size_t kMaxStaticFileBytes = 4 * 1024 * 1024;
inline constexpr char kStaticPrefix[] = "app";

class StaticFiles {
 public:
  // `root` must be a directory; nullopt with `error` otherwise.
  static std::optional<StaticFiles> Open(const std::string& root, std::string* error);

  // `path`: the request's segments after "app" (percent-decoded, as http::Request has them).
  http::Response Serve(const http::Request& request, std::span<const std::string> path) const;

  // The Content-Type for a file name, by extension; application/octet-stream when unknown.
  static std::string_view ContentType(std::string_view name);

  const std::string& root() const { return root_; }

 private:
  explicit StaticFiles(std::string root) : root_(std::move(root)) {}
  std::string root_;  // its real path, without a trailing '/'
};

}  // namespace cv::admin
