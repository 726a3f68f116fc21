#include "tests/relay/net/tls_test_certs.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "gtest/gtest.h"

namespace cv::net::testing {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};

bool AddExtension(X509* x, int nid, const std::string& value) {
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value.c_str());
  if (ext == nullptr) return false;
  const bool ok = X509_add_ext(x, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

bool WritePem(const std::string& path, X509* cert, EVP_PKEY* key) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_file(path.c_str(), "wb"));
  if (!bio) return false;
  if (cert != nullptr) return PEM_write_bio_X509(bio.get(), cert) == 1;
  return PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
}

}  // namespace

TlsTestCerts::TlsTestCerts() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/cv-tls-test-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp " << pattern << " failed";
    return;
  }
  dir_ = pattern;
}

TlsTestCerts::~TlsTestCerts() {
  if (dir_.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

TlsTestCerts::Files TlsTestCerts::Make(const std::string& name, const std::string& cn,
                                       const std::vector<std::string>& extra_dns_names, int days) {
  Files files{dir_ + "/" + name + ".crt", dir_ + "/" + name + ".key"};
  std::unique_ptr<EVP_PKEY, PkeyFree> key(EVP_EC_gen("P-256"));
  std::unique_ptr<X509, X509Free> cert(X509_new());
  std::unique_ptr<BIGNUM, BnFree> serial(BN_new());
  bool ok = key && cert && serial;
  X509* x = cert.get();
  ok = ok && X509_set_version(x, 2) == 1;  // v3
  ok = ok && BN_rand(serial.get(), 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1 &&
       BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(x)) != nullptr;
  ok = ok && X509_gmtime_adj(X509_getm_notBefore(x), -3600) != nullptr &&
       X509_time_adj_ex(X509_getm_notAfter(x), days, 0, nullptr) != nullptr;
  ok = ok && X509_set_pubkey(x, key.get()) == 1;
  if (ok) {
    X509_NAME* subject = X509_get_subject_name(x);
    ok = X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                    reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                    0) == 1 &&
         X509_set_issuer_name(x, subject) == 1;
  }
  std::string san = "DNS:" + cn;
  for (const std::string& dns : extra_dns_names) san += ",DNS:" + dns;
  ok = ok && AddExtension(x, NID_subject_alt_name, san);
  ok = ok && X509_sign(x, key.get(), EVP_sha256()) != 0;
  ok = ok && WritePem(files.cert, x, nullptr) && WritePem(files.key, nullptr, key.get());
  if (!ok) ADD_FAILURE() << "could not make a test certificate for CN=" << cn;
  return files;
}

std::string TlsTestCerts::Write(const std::string& name, std::string_view contents) {
  const std::string path = dir_ + "/" + name;
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  if (!file) ADD_FAILURE() << "could not write " << path;
  return path;
}

std::string TlsTestCerts::Read(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

}  // namespace cv::net::testing
