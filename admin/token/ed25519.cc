#include "admin/token/ed25519.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

namespace cv::token {
namespace {

// A private key file is a few hundred bytes; anything much larger is not one.
constexpr off_t kMaxPemBytes = 64 * 1024;

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

// OpenSSL takes a non-null pointer even for zero bytes.
const unsigned char* Bytes(std::string_view s) {
  static const unsigned char kEmpty = 0;
  return s.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(s.data());
}

// The first queued OpenSSL error as text, and the queue emptied so that it does not surface in
// an unrelated later call on this thread.
std::string OpenSslError(const char* what) {
  std::string out = what;
  const unsigned long code = ERR_peek_error();
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    out += ": ";
    out += buf;
  }
  ERR_clear_error();
  return out;
}

void SetError(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
}

std::string Errno(const std::string& path, const char* what, int err) {
  return path + ": " + what + ": " + std::strerror(err);
}

// Never prompt for a passphrase: an encrypted key file is refused.
int NoPassphrase(char*, int, int, void*) { return -1; }

// Reads the whole file behind `fd` (at most kMaxPemBytes).
bool ReadAll(int fd, off_t size, std::string* out) {
  out->resize(static_cast<size_t>(size));
  size_t done = 0;
  while (done < out->size()) {
    const ssize_t n = read(fd, out->data() + done, out->size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

bool WriteAll(int fd, const char* data, size_t size) {
  size_t done = 0;
  while (done < size) {
    const ssize_t n = write(fd, data + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

std::shared_ptr<EVP_PKEY> Share(PkeyPtr key) {
  return std::shared_ptr<EVP_PKEY>(key.release(), PkeyFree());
}

}  // namespace

std::optional<Ed25519Key> Ed25519Key::Generate(std::string* error) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_keygen(ctx.get(), &raw) != 1) {
    SetError(error, OpenSslError("Ed25519 key generation failed"));
    return std::nullopt;
  }
  return Ed25519Key(Share(PkeyPtr(raw)));
}

std::optional<Ed25519Key> Ed25519Key::FromSeed(std::string_view seed, std::string* error) {
  if (seed.size() != kEd25519SeedBytes) {
    SetError(error, "Ed25519 seed must be 32 bytes, not " + std::to_string(seed.size()));
    return std::nullopt;
  }
  PkeyPtr key(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, Bytes(seed), kEd25519SeedBytes));
  if (!key) {
    SetError(error, OpenSslError("Ed25519 seed not accepted"));
    return std::nullopt;
  }
  return Ed25519Key(Share(std::move(key)));
}

std::optional<Ed25519Key> Ed25519Key::LoadPem(const std::string& path, std::string* error) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    SetError(error, Errno(path, "cannot open", errno));
    return std::nullopt;
  }
  // The checks use the descriptor we read from, so the file cannot be swapped in between.
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    SetError(error, Errno(path, "cannot stat", errno));
    close(fd);
    return std::nullopt;
  }
  if (!S_ISREG(st.st_mode)) {
    SetError(error, path + ": not a regular file");
    close(fd);
    return std::nullopt;
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    SetError(error, path + ": private key is accessible by group or others (mode " + mode +
                        "); run: chmod 600 " + path);
    close(fd);
    return std::nullopt;
  }
  if (st.st_size <= 0 || st.st_size > kMaxPemBytes) {
    SetError(error, path + ": not a PEM private key (size " + std::to_string(st.st_size) + ")");
    close(fd);
    return std::nullopt;
  }
  std::string text;
  const bool read_ok = ReadAll(fd, st.st_size, &text);
  const int read_errno = errno;
  close(fd);
  if (!read_ok) {
    OPENSSL_cleanse(text.data(), text.size());
    SetError(error, Errno(path, "cannot read", read_errno));
    return std::nullopt;
  }

  BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  PkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr) : nullptr);
  bio.reset();
  OPENSSL_cleanse(text.data(), text.size());
  if (!key) {
    SetError(error, OpenSslError((path + ": not an unencrypted PKCS#8 PEM private key").c_str()));
    return std::nullopt;
  }
  if (EVP_PKEY_is_a(key.get(), "ED25519") != 1) {
    SetError(error, path + ": not an Ed25519 key");
    return std::nullopt;
  }
  return Ed25519Key(Share(std::move(key)));
}

bool Ed25519Key::SavePem(const std::string& path, std::string* error) const {
  // PEM into memory first, so a failure leaves no half-written file behind.
  BioPtr bio(BIO_new(BIO_s_secmem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    SetError(error, OpenSslError("cannot encode the private key as PEM"));
    return false;
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  if (size <= 0 || data == nullptr) {
    SetError(error, OpenSslError("cannot encode the private key as PEM"));
    return false;
  }

  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    SetError(error, Errno(path, "cannot create", errno));
    return false;
  }
  bool ok = WriteAll(fd, data, static_cast<size_t>(size));
  int err = errno;
  if (ok && fsync(fd) != 0) {
    ok = false;
    err = errno;
  }
  if (close(fd) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    unlink(path.c_str());
    SetError(error, Errno(path, "cannot write", err));
  }
  return ok;
}

std::string Ed25519Key::PublicKey() const {
  std::string out(kEd25519PublicKeyBytes, '\0');
  size_t len = out.size();
  if (EVP_PKEY_get_raw_public_key(key_.get(), reinterpret_cast<unsigned char*>(out.data()), &len) !=
          1 ||
      len != kEd25519PublicKeyBytes) {
    ERR_clear_error();
    return {};
  }
  return out;
}

std::string Ed25519Key::Sign(std::string_view message) const {
  // PureEdDSA hashes the message itself: no digest is named (RFC 8032 §5.1.6).
  MdCtxPtr ctx(EVP_MD_CTX_new());
  std::string sig(kEd25519SignatureBytes, '\0');
  size_t len = sig.size();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, Bytes(message),
                     message.size()) != 1 ||
      len != kEd25519SignatureBytes) {
    ERR_clear_error();
    return {};
  }
  return sig;
}

bool Ed25519Verify(std::string_view public_key, std::string_view message,
                   std::string_view signature) {
  if (public_key.size() != kEd25519PublicKeyBytes || signature.size() != kEd25519SignatureBytes) {
    return false;
  }
  PkeyPtr key(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, Bytes(public_key), public_key.size()));
  MdCtxPtr ctx(EVP_MD_CTX_new());
  // RFC 8032 §5.1.7: OpenSSL decodes A and R (refusing invalid points), refuses S >= L, and
  // checks [S]B = R + [k]A.
  const bool ok = key && ctx &&
                  EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) == 1 &&
                  EVP_DigestVerify(ctx.get(), Bytes(signature), signature.size(), Bytes(message),
                                   message.size()) == 1;
  if (!ok) ERR_clear_error();
  return ok;
}

}  // namespace cv::token
