#include "relay/common/http_client.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <limits>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>

#include "relay/common/address.h"

namespace cv::http {
namespace {

using SteadyClock = std::chrono::steady_clock;

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return Lower(x) == Lower(y); });
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// tchar (RFC 9110 §5.6.2): the characters of a method or a field name.
bool IsTchar(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsToken(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), IsTchar);
}

// Visible US-ASCII (VCHAR): what a request target or a base path may hold. No spaces, no
// controls, no bytes over 0x7e, so nothing can end the request line early.
bool IsVisible(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

// A field value may not hold CR, LF or NUL (RFC 9110 §5.5): they would split the header.
bool IsSafeFieldValue(std::string_view text) {
  return text.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

// OWS = *( SP / HTAB )
std::string_view TrimOws(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// strerror's text, thread-safely.
std::string ErrnoText(int err) { return std::system_category().message(err); }

std::string Bracketed(const std::string& host) {
  return host.find(':') == std::string::npos ? host : "[" + host + "]";
}

std::string HostPort(const Url& url) {
  return Bracketed(url.host) + ":" + std::to_string(url.port);
}

class Deadline {
 public:
  explicit Deadline(int timeout_ms)
      : timeout_ms_(timeout_ms), at_(SteadyClock::now() + std::chrono::milliseconds(timeout_ms)) {}
  SteadyClock::time_point at() const { return at_; }
  // Milliseconds left for poll(), rounded up so that poll never returns just before the deadline.
  int RemainingMs() const {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(at_ - SteadyClock::now()).count();
    return static_cast<int>(std::clamp<int64_t>(left, 0, std::numeric_limits<int>::max()));
  }
  std::string TimedOut(std::string_view doing) const {
    return "timed out after " + std::to_string(timeout_ms_) + " ms " + std::string(doing);
  }

 private:
  int timeout_ms_;
  SteadyClock::time_point at_;
};

class Socket {
 public:
  explicit Socket(int fd = -1) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) close(fd_);
  }
  Socket(Socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Socket& operator=(Socket&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  int fd() const { return fd_; }

 private:
  int fd_;
};

// Polls `fd` for `events` until the deadline: the revents, 0 on timeout, -1 on a poll error.
int Wait(int fd, short events, const Deadline& deadline) {
  while (true) {
    pollfd p{fd, events, 0};
    int n = poll(&p, 1, deadline.RemainingMs());
    if (n > 0) return p.revents;
    if (n == 0) return 0;
    if (errno != EINTR) return -1;
  }
}

// --- Name resolution ---------------------------------------------------------------------------

// getaddrinfo has no timeout, so a name is resolved on a thread of its own while the caller waits
// on the deadline. On a timeout the thread is left to finish (the lookup is shared, so whichever
// side ends last frees it). An IP literal needs no lookup and no thread.
std::optional<std::vector<SocketAddress>> Resolve(const Url& url, const Deadline& deadline,
                                                  std::string* error) {
  if (std::optional<IpAddress> ip = IpAddress::Parse(url.host)) {
    return std::vector<SocketAddress>{SocketAddress{*ip, url.port}};
  }
  struct Lookup {
    std::mutex mu;
    std::condition_variable done_cv;
    bool done = false;
    int rc = 0;
    addrinfo* result = nullptr;
    ~Lookup() {
      if (result != nullptr) freeaddrinfo(result);
    }
  };
  auto lookup = std::make_shared<Lookup>();
  try {
    std::thread([lookup, host = url.host] {
      addrinfo hints{};
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      addrinfo* result = nullptr;
      int rc = getaddrinfo(host.c_str(), nullptr, &hints, &result);
      std::lock_guard<std::mutex> lock(lookup->mu);
      lookup->rc = rc;
      lookup->result = result;
      lookup->done = true;
      lookup->done_cv.notify_all();
    }).detach();
  } catch (const std::system_error& e) {
    *error = "cannot resolve " + url.host + ": " + e.what();
    return std::nullopt;
  }
  std::unique_lock<std::mutex> lock(lookup->mu);
  if (!lookup->done_cv.wait_until(lock, deadline.at(), [&] { return lookup->done; })) {
    *error = deadline.TimedOut("resolving " + url.host);
    return std::nullopt;
  }
  if (lookup->rc != 0) {
    *error = "cannot resolve " + url.host + ": " + gai_strerror(lookup->rc);
    return std::nullopt;
  }
  std::vector<SocketAddress> addresses;
  for (const addrinfo* ai = lookup->result; ai != nullptr; ai = ai->ai_next) {
    std::optional<SocketAddress> address = SocketAddress::FromSockaddr(ai->ai_addr, ai->ai_addrlen);
    if (!address) continue;
    address->port = url.port;
    if (std::find(addresses.begin(), addresses.end(), *address) == addresses.end()) {
      addresses.push_back(*address);
    }
  }
  if (addresses.empty()) {
    *error = "cannot resolve " + url.host + ": no IPv4 or IPv6 address";
    return std::nullopt;
  }
  return addresses;
}

// --- Connect, send ------------------------------------------------------------------------------

// A connected non-blocking socket to the first address that accepts, in resolver order.
std::optional<Socket> Connect(const std::vector<SocketAddress>& addresses, const Deadline& deadline,
                              std::string* error) {
  for (const SocketAddress& address : addresses) {
    sockaddr_storage ss{};
    socklen_t len = address.ToSockaddr(&ss);
    Socket socket(::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (socket.fd() < 0) {
      int err = errno;
      *error = "socket for " + address.ToString() + ": " + ErrnoText(err);
      continue;
    }
    int err = 0;
    if (connect(socket.fd(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      err = errno;
      if (err == EINPROGRESS) {
        int revents = Wait(socket.fd(), POLLOUT, deadline);
        if (revents == 0) {
          *error = deadline.TimedOut("connecting to " + address.ToString());
          return std::nullopt;
        }
        socklen_t err_len = sizeof(err);
        if (revents < 0) {
          err = errno;
        } else if (getsockopt(socket.fd(), SOL_SOCKET, SO_ERROR, &err, &err_len) != 0) {
          err = errno;
        }
      }
    }
    if (err == 0) return socket;
    *error = "connect " + address.ToString() + ": " + ErrnoText(err);
  }
  return std::nullopt;
}

enum class SendResult { kSent, kAnsweredEarly, kFailed };

// Sends the request. A server may answer (a 413, say) and close before it has read the whole
// body; a client sending a body watches for that answer and stops sending (RFC 9112 §9), so the
// socket is polled for input too, and a send that fails because the server hung up is not an
// error yet: its answer may be waiting.
SendResult Send(int fd, std::string_view bytes, const Deadline& deadline, const std::string& peer,
                std::string* error) {
  while (!bytes.empty()) {
    int revents = Wait(fd, POLLOUT | POLLIN, deadline);
    if (revents == 0) {
      *error = deadline.TimedOut("sending the request to " + peer);
      return SendResult::kFailed;
    }
    if (revents < 0) {
      *error = "poll: " + ErrnoText(errno);
      return SendResult::kFailed;
    }
    if ((revents & (POLLIN | POLLHUP | POLLERR)) != 0) return SendResult::kAnsweredEarly;
    ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
    } else if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
      return SendResult::kAnsweredEarly;
    } else if (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
      int err = errno;
      *error = "send to " + peer + ": " + ErrnoText(err);
      return SendResult::kFailed;
    }
  }
  return SendResult::kSent;
}

// --- Response parsing (RFC 9112) ----------------------------------------------------------------

// Parses a response as its bytes arrive, so that a response with a known length is complete
// without waiting for the server to close, and no byte is scanned twice.
//
//   HTTP-message = status-line CRLF *( field-line CRLF ) CRLF [ message-body ]     (§2.1)
//   status-line  = HTTP-version SP status-code SP [ reason-phrase ]                 (§4)
//   field-line   = field-name ":" OWS field-value OWS                              (§5)
//
// A bare LF is accepted as a line end (§2.2). Interim 1xx responses are skipped (RFC 9110 §15.2).
class ResponseParser {
 public:
  enum class State { kMore, kDone, kError };

  ResponseParser(bool head_request, size_t max_bytes)
      : head_request_(head_request), max_bytes_(max_bytes) {}

  State Feed(std::string_view data) {
    if (state_ != State::kMore) return state_;
    received_ += data.size();
    if (received_ > max_bytes_) {
      return Fail("response too large (over " + std::to_string(max_bytes_) + " bytes)");
    }
    buffer_.append(data);
    Parse();
    // Drop what was consumed; what stays is a partial line or chunk header.
    buffer_.erase(0, pos_);
    scanned_ -= std::min(scanned_, pos_);
    pos_ = 0;
    return state_;
  }

  // The server closed the connection.
  State Finish() {
    if (state_ != State::kMore) return state_;
    if (phase_ == Phase::kUntilClose) return Done();
    if (received_ == 0) return Fail("connection closed without a response");
    return Fail("connection closed after " + std::to_string(received_) +
                " bytes, before the response was complete");
  }

  size_t received() const { return received_; }
  const std::string& error() const { return error_; }
  ClientResponse Take() { return std::move(response_); }

 private:
  enum class Phase {
    kStatusLine,
    kFields,
    kLength,      // Content-Length bytes
    kUntilClose,  // everything until the server closes
    kChunkSize,   // chunk-size [ chunk-ext ] CRLF
    kChunkData,   // chunk-data
    kChunkEnd,    // the CRLF after chunk-data
    kTrailers,    // trailer-section CRLF
  };

  State Fail(std::string why) {
    error_ = std::move(why);
    state_ = State::kError;
    return state_;
  }
  State Malformed(std::string_view why) { return Fail("malformed response: " + std::string(why)); }
  State Done() {
    state_ = State::kDone;
    return state_;
  }

  // The next line (without its CR LF) when it has arrived whole.
  std::optional<std::string_view> TakeLine() {
    size_t lf = buffer_.find('\n', std::max(pos_, scanned_));
    if (lf == std::string::npos) {
      scanned_ = buffer_.size();
      return std::nullopt;
    }
    std::string_view line(buffer_.data() + pos_, lf - pos_);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos_ = lf + 1;
    scanned_ = pos_;
    return line;
  }

  size_t Available() const { return buffer_.size() - pos_; }

  void Parse() {
    while (state_ == State::kMore) {
      bool progressed = false;
      switch (phase_) {
        case Phase::kStatusLine:
          if (std::optional<std::string_view> line = TakeLine()) {
            ParseStatusLine(*line);
            progressed = true;
          }
          break;
        case Phase::kFields:
          if (std::optional<std::string_view> line = TakeLine()) {
            if (line->empty()) {
              EndOfHeader();
            } else {
              ParseFieldLine(*line);
            }
            progressed = true;
          }
          break;
        case Phase::kLength: {
          size_t take = std::min(Available(), remaining_);
          response_.body.append(buffer_, pos_, take);
          pos_ += take;
          remaining_ -= take;
          if (remaining_ == 0) Done();
          break;
        }
        case Phase::kUntilClose:
          response_.body.append(buffer_, pos_, Available());
          pos_ = buffer_.size();
          break;
        case Phase::kChunkSize:
          if (std::optional<std::string_view> line = TakeLine()) {
            ParseChunkSize(*line);
            progressed = true;
          }
          break;
        case Phase::kChunkData: {
          size_t take = std::min(Available(), remaining_);
          response_.body.append(buffer_, pos_, take);
          pos_ += take;
          remaining_ -= take;
          if (remaining_ == 0) {
            phase_ = Phase::kChunkEnd;
            progressed = true;
          }
          break;
        }
        case Phase::kChunkEnd:
          if (std::optional<std::string_view> line = TakeLine()) {
            if (!line->empty()) Malformed("chunk data longer than its size");
            phase_ = Phase::kChunkSize;
            progressed = true;
          }
          break;
        case Phase::kTrailers:
          // Trailer fields are read and dropped: nothing here needs them.
          if (std::optional<std::string_view> line = TakeLine()) {
            if (line->empty()) Done();
            progressed = true;
          }
          break;
      }
      if (!progressed) return;
    }
  }

  // HTTP-version = "HTTP/" DIGIT "." DIGIT; status-code = 3DIGIT. The reason phrase is ignored.
  void ParseStatusLine(std::string_view line) {
    if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || !IsDigit(line[7]) || line[8] != ' ' ||
        !IsDigit(line[9]) || !IsDigit(line[10]) || !IsDigit(line[11]) ||
        (line.size() > 12 && line[12] != ' ')) {
      Malformed("bad status line");
      return;
    }
    int status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    if (status < 100 || status > 599) {
      Malformed("status " + std::to_string(status) + " out of range");
      return;
    }
    response_ = ClientResponse{};
    response_.status = status;
    phase_ = Phase::kFields;
  }

  void ParseFieldLine(std::string_view line) {
    if (line.front() == ' ' || line.front() == '\t') {
      // obs-fold (§5.2): a user agent replaces it with a space and carries on.
      if (response_.headers.empty()) {
        Malformed("a continuation line before any header");
        return;
      }
      std::string_view more = TrimOws(line);
      if (!IsSafeFieldValue(more)) {
        Malformed("a NUL in a header");
        return;
      }
      response_.headers.back().second.append(" ").append(more);
      return;
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || !IsToken(line.substr(0, colon))) {
      Malformed("bad header line");
      return;
    }
    std::string_view value = TrimOws(line.substr(colon + 1));
    if (!IsSafeFieldValue(value)) {
      Malformed("a NUL in a header");
      return;
    }
    response_.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
  }

  // The header is complete: decide how long the body is (§6.3).
  void EndOfHeader() {
    int status = response_.status;
    if (status >= 100 && status < 200) {
      if (status == 101) {
        Malformed("101 Switching Protocols without an upgrade request");
        return;
      }
      phase_ = Phase::kStatusLine;  // an interim response; the final one follows
      return;
    }
    if (head_request_ || status == 204 || status == 304) {
      Done();
      return;
    }
    // Transfer-Encoding wins over Content-Length (§6.3 rule 3). Only chunked is understood: this
    // client asks for no other coding, and a coded JSON body would be useless to its callers.
    std::vector<std::string_view> codings;
    std::vector<std::string_view> lengths;
    for (const auto& [name, value] : response_.headers) {
      std::vector<std::string_view>* list = EqualsIgnoreCase(name, "Transfer-Encoding") ? &codings
                                            : EqualsIgnoreCase(name, "Content-Length")  ? &lengths
                                                                                        : nullptr;
      if (list == nullptr) continue;
      std::string_view rest = value;
      while (true) {
        size_t comma = rest.find(',');
        std::string_view item = TrimOws(rest.substr(0, comma));
        if (!item.empty()) list->push_back(item);
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
    }
    if (!codings.empty()) {
      if (codings.size() != 1 || !EqualsIgnoreCase(codings[0], "chunked")) {
        Fail("unsupported transfer coding \"" + std::string(codings.back()) + "\" (only chunked)");
        return;
      }
      phase_ = Phase::kChunkSize;
      return;
    }
    if (!lengths.empty()) {
      // Content-Length = 1*DIGIT; repeated identical values are one value (RFC 9110 §8.6).
      std::string_view first = lengths[0];
      if (first.size() > 18 || !std::all_of(first.begin(), first.end(), IsDigit) ||
          std::any_of(lengths.begin(), lengths.end(), [&](auto v) { return v != first; })) {
        Malformed("bad Content-Length");
        return;
      }
      size_t length = 0;
      for (char c : first) length = length * 10 + static_cast<size_t>(c - '0');
      if (length > max_bytes_) {
        Fail("response too large (Content-Length " + std::string(first) + ", the limit is " +
             std::to_string(max_bytes_) + " bytes)");
        return;
      }
      remaining_ = length;
      phase_ = Phase::kLength;
      if (length == 0) Done();
      return;
    }
    phase_ = Phase::kUntilClose;
  }

  // §7.1:  chunk-size [ chunk-ext ] CRLF, chunk-size = 1*HEXDIG,
  //        chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
  // Extensions are ignored. A last-chunk (size 0) is followed by the trailer section.
  void ParseChunkSize(std::string_view line) {
    size_t i = 0;
    size_t size = 0;
    for (; i < line.size() && HexValue(line[i]) >= 0; ++i) {
      if (size > (max_bytes_ >> 4)) {
        Fail("response too large (a chunk over " + std::to_string(max_bytes_) + " bytes)");
        return;
      }
      size = size * 16 + static_cast<size_t>(HexValue(line[i]));
    }
    std::string_view ext = TrimOws(line.substr(i));
    if (i == 0 || (!ext.empty() && ext.front() != ';')) {
      Malformed("bad chunk size");
      return;
    }
    if (size == 0) {
      phase_ = Phase::kTrailers;
      return;
    }
    remaining_ = size;
    phase_ = Phase::kChunkData;
  }

  const bool head_request_;
  const size_t max_bytes_;
  State state_ = State::kMore;
  Phase phase_ = Phase::kStatusLine;
  std::string buffer_;  // received, not yet consumed from pos_ on
  size_t pos_ = 0;
  size_t scanned_ = 0;    // buffer_ has no LF between pos_ and here
  size_t remaining_ = 0;  // body or chunk bytes still to come
  size_t received_ = 0;
  ClientResponse response_;
  std::string error_;
};

std::optional<ClientResponse> Receive(int fd, ResponseParser& parser, const Deadline& deadline,
                                      const std::string& peer, std::string* error) {
  char buf[16384];
  ResponseParser::State state = ResponseParser::State::kMore;
  while (state == ResponseParser::State::kMore) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n > 0) {
      state = parser.Feed(std::string_view(buf, static_cast<size_t>(n)));
      // A server that keeps the socket full never makes recv wait: check the deadline here too.
      if (state == ResponseParser::State::kMore && deadline.RemainingMs() == 0) {
        *error = deadline.TimedOut("waiting for the response from " + peer);
        return std::nullopt;
      }
    } else if (n == 0) {
      state = parser.Finish();
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      int revents = Wait(fd, POLLIN, deadline);
      if (revents == 0) {
        *error = deadline.TimedOut("waiting for the response from " + peer);
        return std::nullopt;
      }
      if (revents < 0) {
        *error = "poll: " + ErrnoText(errno);
        return std::nullopt;
      }
    } else if (errno == ECONNRESET && parser.received() > 0) {
      // A server that answered and then reset the connection (it closed with our request body
      // still unread): what arrived stands, as if it had closed.
      state = parser.Finish();
    } else {
      int err = errno;
      *error = "receive from " + peer + ": " + ErrnoText(err);
      return std::nullopt;
    }
  }
  if (state == ResponseParser::State::kError) {
    *error = parser.error() + " (from " + peer + ")";
    return std::nullopt;
  }
  return parser.Take();
}

bool HasHeader(const ClientRequest& request, std::string_view name) {
  return std::any_of(request.headers.begin(), request.headers.end(),
                     [&](const auto& h) { return EqualsIgnoreCase(h.first, name); });
}

// The request message (RFC 9112 §3): request-line, Host first (§3.2), our own fields, then the
// caller's. nullopt with `error` when a method, target or field would not survive the trip.
std::optional<std::string> Serialize(const Url& url, const ClientRequest& request,
                                     std::string* error) {
  if (url.host.empty() || !IsVisible(url.host)) {
    *error = "bad request: no host, or a host with spaces, controls or non-ASCII bytes";
    return std::nullopt;
  }
  if (!IsToken(request.method)) {
    *error = "bad request: the method is not a token";
    return std::nullopt;
  }
  std::string target = url.base + request.target;
  if (target.empty()) target = "/";
  if (!IsVisible(target)) {
    *error = "bad request: the target holds spaces, controls or non-ASCII bytes";
    return std::nullopt;
  }
  for (const auto& [name, value] : request.headers) {
    if (!IsToken(name) || !IsSafeFieldValue(value)) {
      *error = "bad request: header \"" + (IsToken(name) ? name : std::string("?")) +
               "\" has a bad name or a CR, LF or NUL in its value";
      return std::nullopt;
    }
  }
  if (!IsSafeFieldValue(request.content_type)) {
    *error = "bad request: CR, LF or NUL in the content type";
    return std::nullopt;
  }

  std::string out = request.method + " " + target + " HTTP/1.1\r\n";
  if (!HasHeader(request, "Host")) out += "Host: " + HostPort(url) + "\r\n";
  out += "Connection: close\r\n";
  if (!request.body.empty() && !request.content_type.empty() &&
      !HasHeader(request, "Content-Type")) {
    out += "Content-Type: " + request.content_type + "\r\n";
  }
  const std::string& m = request.method;
  bool defines_content = m == "POST" || m == "PUT" || m == "PATCH";
  if ((!request.body.empty() || defines_content) && !HasHeader(request, "Content-Length") &&
      !HasHeader(request, "Transfer-Encoding")) {
    out += "Content-Length: " + std::to_string(request.body.size()) + "\r\n";
  }
  for (const auto& [name, value] : request.headers) out += name + ": " + value + "\r\n";
  out += "\r\n";
  out += request.body;
  return out;
}

// The URL for an error message, with any user info (a password, maybe) replaced by "***".
std::string RedactUserInfo(std::string_view text) {
  size_t scheme = text.find("://");
  size_t start = scheme == std::string_view::npos ? 0 : scheme + 3;
  size_t end = text.find_first_of("/?#", start);
  size_t at = text.substr(0, end).rfind('@');
  if (at == std::string_view::npos || at < start) return std::string(text);
  return std::string(text.substr(0, start)) + "***" + std::string(text.substr(at));
}

}  // namespace

// --- Url -------------------------------------------------------------------------------------

// http-URI = "http" "://" authority path-abempty   (RFC 9110 §4.2.1, RFC 3986 §3)
// authority = host [ ":" port ], host = reg-name / IPv4address / "[" IPv6address "]"
std::optional<Url> Url::Parse(std::string_view text, std::string* error) {
  const std::string quoted = "\"" + RedactUserInfo(text) + "\"";
  auto fail = [&](std::string why) -> std::optional<Url> {
    *error = std::move(why);
    return std::nullopt;
  };
  constexpr std::string_view kHttp = "http://";
  constexpr std::string_view kHttps = "https://";
  if (text.size() >= kHttps.size() && EqualsIgnoreCase(text.substr(0, kHttps.size()), kHttps)) {
    return fail("https is not supported: " + quoted +
                " (plain HTTP only; keep the API on loopback or a private network)");
  }
  if (text.size() < kHttp.size() || !EqualsIgnoreCase(text.substr(0, kHttp.size()), kHttp)) {
    return fail("not an http:// URL: " + quoted);
  }
  std::string_view rest = text.substr(kHttp.size());
  size_t authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view path =
      authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) {
    return fail("user info (user:password@) in a URL is not supported: " + quoted);
  }

  Url url;
  std::string_view port_text;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    std::optional<IpAddress> ip;
    if (close != std::string_view::npos) ip = IpAddress::Parse(authority.substr(1, close - 1));
    if (!ip || !ip->is_v6()) return fail("bad IPv6 address in " + quoted);
    url.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail("bad host in " + quoted);
      has_port = true;
      port_text = after.substr(1);
    }
  } else {
    if (std::count(authority.begin(), authority.end(), ':') > 1) {
      return fail("bad host in " + quoted + " (an IPv6 address goes in brackets)");
    }
    size_t colon = authority.find(':');
    std::string_view host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      has_port = true;
      port_text = authority.substr(colon + 1);
    }
    if (host.empty()) return fail("no host in " + quoted);
    bool name_chars = std::all_of(host.begin(), host.end(), [](char c) {
      return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
             c == '.' || c == '_';
    });
    if (!name_chars) return fail("bad host in " + quoted + " (an IPv6 address goes in brackets)");
    url.host = std::string(host);
  }
  if (has_port) {
    // port = *DIGIT; an empty port is refused too: in a config file it is a typo.
    if (port_text.empty() || port_text.size() > 5 ||
        !std::all_of(port_text.begin(), port_text.end(), IsDigit)) {
      return fail("bad port in " + quoted);
    }
    uint32_t port = 0;
    for (char c : port_text) port = port * 10 + static_cast<uint32_t>(c - '0');
    if (port == 0 || port > 65535) return fail("bad port in " + quoted);
    url.port = static_cast<uint16_t>(port);
  }

  if (path.find_first_of("?#") != std::string_view::npos) {
    return fail("a base URL takes no query or fragment: " + quoted);
  }
  if (!IsVisible(path)) return fail("bad path in " + quoted);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  url.base = std::string(path);
  return url;
}

std::string Url::ToString() const { return "http://" + HostPort(*this) + base; }

std::string ClientResponse::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (EqualsIgnoreCase(key, name)) return value;
  }
  return "";
}

// --- Fetch -----------------------------------------------------------------------------------

std::optional<ClientResponse> Fetch(const Url& url, const ClientRequest& request,
                                    const FetchOptions& options, std::string* error) {
  std::string ignored;
  if (error == nullptr) error = &ignored;
  if (options.timeout_ms <= 0) {
    *error = "timeout_ms must be positive";
    return std::nullopt;
  }
  std::optional<std::string> message = Serialize(url, request, error);
  if (!message) return std::nullopt;

  const Deadline deadline(options.timeout_ms);
  std::optional<std::vector<SocketAddress>> addresses = Resolve(url, deadline, error);
  if (!addresses) return std::nullopt;
  std::optional<Socket> socket = Connect(*addresses, deadline, error);
  if (!socket) return std::nullopt;

  const std::string peer = HostPort(url);
  if (Send(socket->fd(), *message, deadline, peer, error) == SendResult::kFailed) {
    return std::nullopt;
  }
  ResponseParser parser(request.method == "HEAD", options.max_response_bytes);
  return Receive(socket->fd(), parser, deadline, peer, error);
}

}  // namespace cv::http
