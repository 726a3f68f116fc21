#include "relay/net/tls_context.h"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "relay/common/log.h"
#include "relay/net/dtls_session.h"

namespace cv::net {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using CtxPtr = std::unique_ptr<SSL_CTX, CtxFree>;

// The reason of the last OpenSSL error, for messages about things OpenSSL refused.
std::string OpenSslReason() {
  const unsigned long e = ERR_peek_last_error();
  const char* reason = e != 0 ? ERR_reason_error_string(e) : nullptr;
  return reason != nullptr ? reason : "unknown reason";
}

// Opens a file the settings name. `what` is the setting ("cert", "pkey", "ca-file").
BioPtr OpenFile(const char* what, const std::string& path, std::string* error) {
  if (path.empty()) {
    *error = std::string(what) + ": no file given";
    return nullptr;
  }
  FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    *error = std::string(what) + " " + path + ": cannot open (" + std::strerror(errno) + ")";
    return nullptr;
  }
  BioPtr bio(BIO_new_fp(file, BIO_CLOSE));
  if (!bio) {
    std::fclose(file);
    *error = std::string(what) + " " + path + ": cannot read (out of memory)";
  }
  return bio;
}

// Never prompt on the terminal for a passphrase: an encrypted key simply fails to load.
int NoPassphrase(char*, int, int, void*) { return -1; }

bool NoMorePem() {
  const unsigned long e = ERR_peek_last_error();
  return ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
}

struct Identity {
  X509Ptr leaf;
  std::vector<X509Ptr> chain;  // intermediates after the leaf, in file order
  PkeyPtr key;
};

bool LoadIdentity(const TlsSettings& settings, Identity* id, std::string* error) {
  BioPtr cert_file = OpenFile("cert", settings.cert, error);
  if (!cert_file) return false;
  // Skips any other PEM blocks (a private key in the same file) before the first certificate.
  id->leaf.reset(PEM_read_bio_X509_AUX(cert_file.get(), nullptr, &NoPassphrase, nullptr));
  if (!id->leaf) {
    *error = "cert " + settings.cert + ": no certificate found (expected PEM)";
    return false;
  }
  for (;;) {
    ERR_clear_error();
    X509Ptr next(PEM_read_bio_X509(cert_file.get(), nullptr, &NoPassphrase, nullptr));
    if (!next) {
      if (NoMorePem()) break;
      *error = "cert " + settings.cert + ": unreadable certificate after the first (" +
               OpenSslReason() + ")";
      return false;
    }
    id->chain.push_back(std::move(next));
  }
  ERR_clear_error();

  BioPtr key_file = OpenFile("pkey", settings.pkey, error);
  if (!key_file) return false;
  id->key.reset(PEM_read_bio_PrivateKey(key_file.get(), nullptr, &NoPassphrase, nullptr));
  if (!id->key) {
    *error = "pkey " + settings.pkey + ": no private key found (expected unencrypted PEM)";
    return false;
  }
  if (X509_check_private_key(id->leaf.get(), id->key.get()) != 1) {
    *error = "pkey " + settings.pkey + " does not match the certificate in " + settings.cert;
    return false;
  }
  ERR_clear_error();
  return true;
}

bool UseIdentity(SSL_CTX* ctx, const Identity& id, const TlsSettings& settings,
                 std::string* error) {
  if (SSL_CTX_use_certificate(ctx, id.leaf.get()) != 1) {
    // E.g. "ee key too small" at the security level in force.
    *error = "cert " + settings.cert + ": refused by OpenSSL (" + OpenSslReason() + ")";
    return false;
  }
  for (const X509Ptr& x : id.chain) {
    if (SSL_CTX_add1_chain_cert(ctx, x.get()) != 1) {
      *error = "cert " + settings.cert + ": chain certificate refused by OpenSSL (" +
               OpenSslReason() + ")";
      return false;
    }
  }
  if (SSL_CTX_use_PrivateKey(ctx, id.key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    *error = "pkey " + settings.pkey + ": refused by OpenSSL (" + OpenSslReason() + ")";
    return false;
  }
  return true;
}

bool UseClientCa(SSL_CTX* ctx, const TlsSettings& settings, std::string* error) {
  if (settings.ca_file.empty()) return true;
  if (!OpenFile("ca-file", settings.ca_file, error)) return false;
  STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(settings.ca_file.c_str());
  if (names == nullptr ||
      SSL_CTX_load_verify_locations(ctx, settings.ca_file.c_str(), nullptr) != 1) {
    if (names != nullptr) sk_X509_NAME_pop_free(names, X509_NAME_free);
    *error = "ca-file " + settings.ca_file + ": no CA certificate found (expected PEM)";
    return false;
  }
  SSL_CTX_set_client_CA_list(ctx, names);  // takes ownership
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  return true;
}

// DHE suites (TLS 1.2) use the parameters of dh-file when it is set, else a group OpenSSL picks
// to match the certificate's strength (RFC 7919 groups).
bool UseDhParameters(SSL_CTX* ctx, const TlsSettings& settings, std::string* error) {
  if (settings.dh_file.empty()) return SSL_CTX_set_dh_auto(ctx, 1) == 1;
  BIO* bio = BIO_new_file(settings.dh_file.c_str(), "r");
  if (bio == nullptr) {
    *error = "dh-file " + settings.dh_file + ": cannot be read";
    ERR_clear_error();
    return false;
  }
  EVP_PKEY* params = PEM_read_bio_Parameters(bio, nullptr);
  BIO_free(bio);
  if (params == nullptr || EVP_PKEY_get_base_id(params) != EVP_PKEY_DH) {
    EVP_PKEY_free(params);
    *error = "dh-file " + settings.dh_file + ": no DH parameters found (expected PEM)";
    ERR_clear_error();
    return false;
  }
  if (SSL_CTX_set0_tmp_dh_pkey(ctx, params) != 1) {  // takes ownership on success
    EVP_PKEY_free(params);
    *error = "dh-file " + settings.dh_file + ": OpenSSL refused the parameters (too small?)";
    ERR_clear_error();
    return false;
  }
  return true;
}

// What both contexts share: identity, cipher list, client CA, and no state that outlives a
// connection (no tickets, no session cache) or changes its keys mid-call (no renegotiation).
bool Configure(SSL_CTX* ctx, const Identity& id, const TlsSettings& settings, std::string* error) {
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx, 0);  // TLS 1.3: not even stateful tickets
  static constexpr unsigned char kSessionContext[] = "cvrelay";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof(kSessionContext) - 1);
  if (!settings.cipher_list.empty() &&
      SSL_CTX_set_cipher_list(ctx, settings.cipher_list.c_str()) != 1) {
    *error = "cipher-list '" + settings.cipher_list + "': no cipher matches";
    return false;
  }
  // After the cipher list: "@SECLEVEL=n" in it changes what certificate keys are acceptable.
  return UseIdentity(ctx, id, settings, error) && UseClientCa(ctx, settings, error) &&
         UseDhParameters(ctx, settings, error);
}

std::string CommonName(const X509_NAME* name) {
  if (name == nullptr) return "";
  const int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (i < 0) return "";
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
  unsigned char* utf8 = nullptr;
  const int n = ASN1_STRING_to_UTF8(&utf8, data);
  if (n < 0) return "";
  std::string out(reinterpret_cast<const char*>(utf8), static_cast<size_t>(n));
  OPENSSL_free(utf8);
  return out;
}

std::string Iso8601(const ASN1_TIME* time) {
  std::tm tm{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) return "unknown";
  char text[32];
  if (std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) return "unknown";
  return text;
}

std::string KeyType(EVP_PKEY* key) {
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_EC: {
      char group[80];
      size_t length = 0;
      if (EVP_PKEY_get_group_name(key, group, sizeof(group), &length) != 1) return "EC";
      const int nid = OBJ_txt2nid(group);
      const char* nist = nid != NID_undef ? EC_curve_nid2nist(nid) : nullptr;
      return std::string("EC-") + (nist != nullptr ? nist : group);
    }
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS:
      return "RSA-" + std::to_string(EVP_PKEY_get_bits(key));
    default: {
      const char* name = EVP_PKEY_get0_type_name(key);
      return name != nullptr ? name : "unknown";
    }
  }
}

std::string DescribeIdentity(const Identity& id) {
  return "subject_cn=" + log::Quote(CommonName(X509_get_subject_name(id.leaf.get()))) +
         " issuer_cn=" + log::Quote(CommonName(X509_get_issuer_name(id.leaf.get()))) +
         " not_after=" + Iso8601(X509_get0_notAfter(id.leaf.get())) +
         " key=" + KeyType(id.key.get());
}

}  // namespace

std::shared_ptr<const TlsContexts> TlsContexts::Load(const TlsSettings& settings,
                                                     std::string* error) {
  std::string ignored;
  if (error == nullptr) error = &ignored;
  ERR_clear_error();
  Identity id;
  if (!LoadIdentity(settings, &id, error)) {
    ERR_clear_error();
    return nullptr;
  }

  // TLS over TCP. The highest no-* flag sets the floor, so no version below an excluded one is
  // offered; TLS 1.3 is always on. (OpenSSL 3 at security level >= 1 refuses TLS 1.0/1.1 even
  // above this floor unless the cipher list says @SECLEVEL=0.)
  CtxPtr tls(SSL_CTX_new(TLS_server_method()));
  if (!tls) {
    *error = "tls: cannot create a context (" + OpenSslReason() + ")";
    ERR_clear_error();
    return nullptr;
  }
  int tls_min = TLS1_VERSION;
  if (settings.no_tlsv1) tls_min = TLS1_1_VERSION;
  if (settings.no_tlsv1_1) tls_min = TLS1_2_VERSION;
  if (settings.no_tlsv1_2) tls_min = TLS1_3_VERSION;
  SSL_CTX_set_min_proto_version(tls.get(), tls_min);
  SSL_CTX_set_max_proto_version(tls.get(), 0);  // the highest OpenSSL knows: TLS 1.3
  SSL_CTX_set_mode(tls.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (!Configure(tls.get(), id, settings, error)) {
    ERR_clear_error();
    return nullptr;
  }

  std::shared_ptr<TlsContexts> contexts(new TlsContexts());
  contexts->description_ = DescribeIdentity(id);

  // DTLS over UDP: 1.0 (≈ TLS 1.1) is off with no-tlsv1, 1.2 with no-tlsv1_2. There is no DTLS
  // 1.3 in OpenSSL 3.0. (DTLS 1.0 also needs @SECLEVEL=0 with OpenSSL 3, like TLS 1.0/1.1.)
  if (settings.no_tlsv1 && settings.no_tlsv1_2) {
    contexts->dtls_error_ =
        "dtls: no-tlsv1 turns DTLS 1.0 off and no-tlsv1_2 turns DTLS 1.2 off, so DTLS cannot run";
  } else {
    CtxPtr dtls(SSL_CTX_new(DTLS_server_method()));
    std::string dtls_error;
    if (!dtls) {
      contexts->dtls_error_ = "dtls: cannot create a context (" + OpenSslReason() + ")";
    } else {
      SSL_CTX_set_min_proto_version(dtls.get(),
                                    settings.no_tlsv1 ? DTLS1_2_VERSION : DTLS1_VERSION);
      SSL_CTX_set_max_proto_version(dtls.get(),
                                    settings.no_tlsv1_2 ? DTLS1_VERSION : DTLS1_2_VERSION);
      if (!Configure(dtls.get(), id, settings, &dtls_error)) {
        contexts->dtls_error_ = "dtls: " + dtls_error;
      } else {
        PrepareDtlsServerContext(dtls.get());
        contexts->dtls_ = dtls.release();
      }
    }
  }
  contexts->tls_ = tls.release();
  ERR_clear_error();
  return contexts;
}

TlsContexts::~TlsContexts() {
  SSL_CTX_free(tls_);
  SSL_CTX_free(dtls_);
}

std::string TlsContexts::Describe() const { return description_; }

}  // namespace cv::net
