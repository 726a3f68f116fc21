#include "tests/support/process.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace cv::testing {
namespace {

using Clock = std::chrono::steady_clock;

std::string MakeTemp(const char* pattern) {
  std::string path = std::filesystem::temp_directory_path() / pattern;
  std::vector<char> buf(path.begin(), path.end());
  buf.push_back('\0');
  int fd = mkstemp(buf.data());
  if (fd >= 0) close(fd);
  return buf.data();
}

}  // namespace

Process::~Process() {
  Kill();
  if (!output_path_.empty()) unlink(output_path_.c_str());
}

bool Process::Start(const std::vector<std::string>& argv) {
  output_path_ = MakeTemp("cv-proc-XXXXXX");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, output_path_.c_str(),
                                   O_WRONLY | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t empty;
  sigemptyset(&empty);
  posix_spawnattr_setsigmask(&attr, &empty);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int rc = posix_spawn(&pid_, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) pid_ = -1;
  return rc == 0;
}

bool Process::running() {
  if (pid_ < 0 || exit_code_) return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  return true;
}

std::string Process::Output() const {
  std::ifstream in(output_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool Process::WaitForOutput(const std::string& needle, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (Output().find(needle) != std::string::npos) return true;
    if (!running()) return Output().find(needle) != std::string::npos;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::optional<int> Process::Wait(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (running()) {
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return exit_code_;
}

void Process::Signal(int sig) {
  if (pid_ > 0 && !exit_code_) kill(pid_, sig);
}

void Process::Kill() {
  if (pid_ <= 0) return;
  if (running()) {
    kill(-pid_, SIGKILL);
    Wait(std::chrono::seconds(5));
  } else {
    kill(-pid_, SIGKILL);  // stray children of the group
  }
}

RunResult RunCommand(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  Process p;
  RunResult r;
  if (!p.Start(argv)) return r;
  auto code = p.Wait(timeout);
  if (!code) {
    r.timed_out = true;
    p.Kill();
  } else {
    r.exit_code = *code;
  }
  r.output = p.Output();
  return r;
}

namespace {

uint16_t FreePort(const char* ip, int type) {
  auto addr = SocketAddress::Parse(ip, 0);
  int fd = socket(addr->ip.is_v4() ? AF_INET : AF_INET6, type | SOCK_CLOEXEC, 0);
  sockaddr_storage ss;
  socklen_t len = addr->ToSockaddr(&ss);
  bind(fd, reinterpret_cast<sockaddr*>(&ss), len);
  len = sizeof(ss);
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  uint16_t port = SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&ss), len)->port;
  close(fd);
  return port;
}

}  // namespace

int64_t UnixNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

uint16_t FreeUdpPort(const char* ip) { return FreePort(ip, SOCK_DGRAM); }
uint16_t FreeTcpPort(const char* ip) { return FreePort(ip, SOCK_STREAM); }

int BindLoopbackUdp(SocketAddress* bound, int receive_buffer) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (receive_buffer > 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof(receive_buffer));
  }
  sockaddr_storage ss;
  socklen_t len = SocketAddress{*IpAddress::Parse("127.0.0.1"), 0}.ToSockaddr(&ss);
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    close(fd);
    return -1;
  }
  len = sizeof(ss);
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  *bound = *SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
  return fd;
}

std::optional<SocketAddress> LoggedAddress(const std::string& output,
                                           const std::string& transport) {
  const std::string marker = "server.listening transport=" + transport + " address=";
  const size_t at = output.find(marker);
  if (at == std::string::npos) return std::nullopt;
  const size_t begin = at + marker.size();
  const size_t end = output.find_first_of(" \n", begin);
  return SocketAddress::Parse(output.substr(begin, end == std::string::npos ? end : end - begin));
}

bool RelayProcess::Start(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  std::vector<std::string> argv = {BinaryPath("cvrelay")};
  argv.insert(argv.end(), args.begin(), args.end());
  bool names_ledger = false;
  for (const std::string& a : args) {
    names_ledger |= a.rfind("--usage-db", 0) == 0 || a == "--no-usage-ledger";
  }
  if (!names_ledger) argv.push_back("--usage-db=" + usage_db());
  if (!process_.Start(argv)) return false;
  if (!process_.WaitForOutput("server.ready", timeout)) return false;
  const std::string out = process_.Output();
  auto udp = LoggedAddress(out, "udp");
  if (!udp) return false;
  address_ = *udp;
  control_ = LoggedAddress(out, "http-control");
  metrics_ = LoggedAddress(out, "http-metrics");
  return true;
}

std::string BinaryPath(const std::string& name) { return std::string(CV_BIN_DIR) + "/" + name; }

std::string RestPassword(const std::string& secret, const std::string& username) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha1(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(username.data()), username.size(), mac, &mac_len);
  unsigned char out[64];
  int n = EVP_EncodeBlock(out, mac, static_cast<int>(mac_len));
  return std::string(reinterpret_cast<char*>(out), static_cast<size_t>(n));
}

TempDir::TempDir() {
  std::string pattern = std::filesystem::temp_directory_path() / "cv-test-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  path_ = mkdtemp(buf.data());
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::Write(const std::string& name, const std::string& content) const {
  std::string p = path_ + "/" + name;
  std::ofstream(p) << content;
  return p;
}

}  // namespace cv::testing
