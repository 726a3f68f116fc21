// Test certificates made on the fly with the OpenSSL API: self-signed EC P-256 certificates and
// their keys, written as PEM files into a private temporary directory that the destructor
// removes. For unit and integration tests of anything that loads TLS settings.
// Not thread-safe; one per test (fixture member).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace cv::net::testing {

class TlsTestCerts {
 public:
  struct Files {
    std::string cert;  // PEM certificate
    std::string key;   // PEM private key (PKCS#8, unencrypted)
  };

  TlsTestCerts();   // creates the directory under $TMPDIR (or /tmp)
  ~TlsTestCerts();  // removes it and everything in it
  TlsTestCerts(const TlsTestCerts&) = delete;
  TlsTestCerts& operator=(const TlsTestCerts&) = delete;

  // Writes `<name>.crt` and `<name>.key`: a fresh P-256 key and a self-signed certificate with
  // subject and issuer CN=`cn`, subjectAltName DNS:`cn` plus `extra_dns_names` (add some to make
  // the certificate bigger), valid from an hour ago for `days` days.
  Files Make(const std::string& name, const std::string& cn,
             const std::vector<std::string>& extra_dns_names = {}, int days = 30);
  // Writes `contents` to `<dir>/<name>` and returns the path (broken or combined files).
  std::string Write(const std::string& name, std::string_view contents);
  // A path inside the directory that does not exist.
  std::string Missing(const std::string& name) const { return dir_ + "/" + name; }
  static std::string Read(const std::string& path);

  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

}  // namespace cv::net::testing
