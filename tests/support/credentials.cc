#include "tests/support/credentials.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <ctime>
#include <fstream>

#include "cv/auth/mint.h"

namespace cv::testing {

Credential Mint(const std::string& secret, const std::string& kid, const std::string& user,
                const std::string& plan, const std::string& session, int64_t ttl,
                uint32_t bandwidth_kbps, uint32_t group, bool video) {
  auth::Claims c;
  c.video = video;
  c.user = user;
  c.session = session;
  c.plan = plan;
  c.group_size = group;
  c.bandwidth_kbps = bandwidth_kbps;
  auth::MintRequest request;
  request.claims = c;
  request.ttl_s = ttl;
  std::string error;
  auto minted = auth::MintCredential(request, {kid, secret, 0}, time(nullptr), &error);
  EXPECT_TRUE(minted) << error;
  return minted ? Credential{minted->username, minted->password} : Credential{};
}

void WriteFile(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream(path, std::ios::trunc) << text;
  chmod(path.c_str(), mode);
}

}  // namespace cv::testing
