#include "admin/service/key_ring.h"

#include <sys/stat.h>

#include <cerrno>

#include "relay/common/log.h"

namespace cv::admin {

namespace {

token::VerifyKey VerifyKeyOf(const token::Ed25519Key& key) {
  std::string public_key = key.PublicKey();
  return token::VerifyKey{token::JwkThumbprint(public_key), public_key};
}

}  // namespace

std::optional<KeyRing> LoadKeyRing(const std::string& signing_key_file,
                                   const std::vector<std::string>& verify_only_files,
                                   bool create_missing, std::string* error) {
  struct stat st {};
  if (create_missing && stat(signing_key_file.c_str(), &st) != 0 && errno == ENOENT) {
    auto fresh = token::Ed25519Key::Generate(error);
    if (!fresh || !fresh->SavePem(signing_key_file, error)) return std::nullopt;
    CV_INFO("token.key_created", "file=%s", log::Quote(signing_key_file).c_str());
  }
  auto signing = token::Ed25519Key::LoadPem(signing_key_file, error);
  if (!signing) return std::nullopt;
  token::VerifyKey current = VerifyKeyOf(*signing);
  KeyRing ring{token::SigningKey{current.kid, *signing}, {current}};
  for (const std::string& path : verify_only_files) {
    auto old = token::Ed25519Key::LoadPem(path, error);
    if (!old) return std::nullopt;
    token::VerifyKey key = VerifyKeyOf(*old);
    if (key.kid != current.kid) ring.verify.push_back(std::move(key));
  }
  return ring;
}

}  // namespace cv::admin
