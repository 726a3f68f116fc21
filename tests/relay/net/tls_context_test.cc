// TlsContexts: loading and checking the files, the error sentences, and which protocol versions
// the contexts accept, by handshaking in memory (a BIO pair) with test-side client contexts.
#include "relay/net/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "tests/relay/net/tls_test_certs.h"

namespace cv::net {
namespace {

struct CtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};
using CtxPtr = std::unique_ptr<SSL_CTX, CtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;

// A client context speaking exactly [min, max]; `ciphers` for TLS <= 1.2 when given.
CtxPtr ClientContext(int min_version, int max_version, const char* ciphers = nullptr) {
  CtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_min_proto_version(ctx.get(), min_version);
  SSL_CTX_set_max_proto_version(ctx.get(), max_version);
  if (ciphers != nullptr) SSL_CTX_set_cipher_list(ctx.get(), ciphers);
  return ctx;
}

struct HandshakeResult {
  bool ok = false;
  int version = 0;  // negotiated, when ok
};

// Runs a client and a server SSL against each other through a BIO pair until both finish or
// either fails.
HandshakeResult Handshake(SSL_CTX* server_ctx, SSL_CTX* client_ctx,
                          const char* client_cert = nullptr, const char* client_key = nullptr) {
  SslPtr server(SSL_new(server_ctx));
  SslPtr client(SSL_new(client_ctx));
  BIO* server_bio = nullptr;
  BIO* client_bio = nullptr;
  BIO_new_bio_pair(&server_bio, 0, &client_bio, 0);
  SSL_set_bio(server.get(), server_bio, server_bio);
  SSL_set_bio(client.get(), client_bio, client_bio);
  SSL_set_accept_state(server.get());
  SSL_set_connect_state(client.get());
  if (client_cert != nullptr) {
    SSL_use_certificate_file(client.get(), client_cert, SSL_FILETYPE_PEM);
    SSL_use_PrivateKey_file(client.get(), client_key, SSL_FILETYPE_PEM);
  }
  bool server_done = false;
  bool client_done = false;
  HandshakeResult result;
  for (int round = 0; round < 20 && !(server_done && client_done); ++round) {
    for (SSL* ssl : {client.get(), server.get()}) {
      bool& done = ssl == client.get() ? client_done : server_done;
      if (done) continue;
      const int r = SSL_do_handshake(ssl);
      if (r == 1) {
        done = true;
        continue;
      }
      const int error = SSL_get_error(ssl, r);
      if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
        ERR_clear_error();
        return result;
      }
    }
  }
  ERR_clear_error();
  result.ok = server_done && client_done;
  result.version = SSL_version(server.get());
  return result;
}

class TlsContextsTest : public ::testing::Test {
 protected:
  void SetUp() override { server_ = certs_.Make("server", "relay.test"); }

  TlsSettings Settings() const {
    TlsSettings settings;
    settings.cert = server_.cert;
    settings.pkey = server_.key;
    return settings;
  }

  std::shared_ptr<const TlsContexts> MustLoad(const TlsSettings& settings) {
    std::string error;
    auto contexts = TlsContexts::Load(settings, &error);
    EXPECT_NE(contexts, nullptr) << error;
    EXPECT_EQ(error, "");
    return contexts;
  }

  std::string LoadError(const TlsSettings& settings) {
    std::string error;
    EXPECT_EQ(TlsContexts::Load(settings, &error), nullptr);
    return error;
  }

  testing::TlsTestCerts certs_;
  testing::TlsTestCerts::Files server_;
};

TEST_F(TlsContextsTest, LoadsAMatchingCertificateAndKeyForTlsAndDtls) {
  auto contexts = MustLoad(Settings());
  ASSERT_NE(contexts, nullptr);
  EXPECT_NE(contexts->tls(), nullptr);
  EXPECT_NE(contexts->dtls(), nullptr);
  EXPECT_EQ(contexts->dtls_error(), "");
  CtxPtr client = ClientContext(TLS1_2_VERSION, TLS1_3_VERSION);
  HandshakeResult r = Handshake(contexts->tls(), client.get());
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.version, TLS1_3_VERSION);
}

TEST_F(TlsContextsTest, KeyInTheSameFileAsTheCertificateLoads) {
  const std::string both = certs_.Write("both.pem", testing::TlsTestCerts::Read(server_.cert) +
                                                        testing::TlsTestCerts::Read(server_.key));
  TlsSettings settings;
  settings.cert = both;
  settings.pkey = both;
  auto contexts = MustLoad(settings);
  ASSERT_NE(contexts, nullptr);
  CtxPtr client = ClientContext(TLS1_2_VERSION, TLS1_3_VERSION);
  EXPECT_TRUE(Handshake(contexts->tls(), client.get()).ok);
}

TEST_F(TlsContextsTest, MismatchedKeyNamesTheKeyAndTheCertificate) {
  const auto other = certs_.Make("other", "other.test");
  TlsSettings settings = Settings();
  settings.pkey = other.key;
  EXPECT_EQ(LoadError(settings),
            "pkey " + other.key + " does not match the certificate in " + server_.cert);
}

TEST_F(TlsContextsTest, MissingCertificateFileNamesTheFileAndTheReason) {
  TlsSettings settings = Settings();
  settings.cert = certs_.Missing("absent.pem");
  EXPECT_EQ(LoadError(settings),
            "cert " + settings.cert + ": cannot open (No such file or directory)");
}

TEST_F(TlsContextsTest, MissingKeyFileNamesTheFileAndTheReason) {
  TlsSettings settings = Settings();
  settings.pkey = certs_.Missing("absent.key");
  EXPECT_EQ(LoadError(settings),
            "pkey " + settings.pkey + ": cannot open (No such file or directory)");
}

TEST_F(TlsContextsTest, UnsetCertificateIsAnError) {
  TlsSettings settings = Settings();
  settings.cert.clear();
  EXPECT_EQ(LoadError(settings), "cert: no file given");
}

TEST_F(TlsContextsTest, NonPemCertificateSaysPemWasExpected) {
  TlsSettings settings = Settings();
  settings.cert = certs_.Write("garbage.crt", "this is not a certificate\n\x01\x02\x03");
  EXPECT_EQ(LoadError(settings), "cert " + settings.cert + ": no certificate found (expected PEM)");
}

TEST_F(TlsContextsTest, NonPemKeySaysPemWasExpected) {
  TlsSettings settings = Settings();
  settings.pkey = certs_.Write("garbage.key", "-----BEGIN PRIVATE KEY-----\nAAAA\n");
  EXPECT_EQ(LoadError(settings),
            "pkey " + settings.pkey + ": no private key found (expected unencrypted PEM)");
}

TEST_F(TlsContextsTest, CertificateFileHoldingOnlyAKeyHasNoCertificate) {
  TlsSettings settings = Settings();
  settings.cert = server_.key;
  EXPECT_EQ(LoadError(settings), "cert " + server_.key + ": no certificate found (expected PEM)");
}

TEST_F(TlsContextsTest, UnknownCipherListIsRefused) {
  TlsSettings settings = Settings();
  settings.cipher_list = "FOO";
  EXPECT_EQ(LoadError(settings), "cipher-list 'FOO': no cipher matches");
}

TEST_F(TlsContextsTest, DefaultsAcceptTls12AndTls13Clients) {
  auto contexts = MustLoad(Settings());
  ASSERT_NE(contexts, nullptr);
  CtxPtr tls12 = ClientContext(TLS1_2_VERSION, TLS1_2_VERSION);
  CtxPtr tls13 = ClientContext(TLS1_3_VERSION, TLS1_3_VERSION);
  HandshakeResult r12 = Handshake(contexts->tls(), tls12.get());
  HandshakeResult r13 = Handshake(contexts->tls(), tls13.get());
  EXPECT_TRUE(r12.ok);
  EXPECT_EQ(r12.version, TLS1_2_VERSION);
  EXPECT_TRUE(r13.ok);
  EXPECT_EQ(r13.version, TLS1_3_VERSION);
}

TEST_F(TlsContextsTest, NoTlsv12RefusesATls12OnlyClientButNotTls13) {
  TlsSettings settings = Settings();
  settings.no_tlsv1_2 = true;
  auto contexts = MustLoad(settings);
  ASSERT_NE(contexts, nullptr);
  CtxPtr tls12 = ClientContext(TLS1_VERSION, TLS1_2_VERSION);
  CtxPtr tls13 = ClientContext(TLS1_VERSION, TLS1_3_VERSION);
  EXPECT_FALSE(Handshake(contexts->tls(), tls12.get()).ok);
  HandshakeResult r13 = Handshake(contexts->tls(), tls13.get());
  EXPECT_TRUE(r13.ok);
  EXPECT_EQ(r13.version, TLS1_3_VERSION);
}

// The TLS 1.1 client runs at @SECLEVEL=0, and so does the server's cipher list, so the only
// thing that can refuse it is the version floor the flags set.
TEST_F(TlsContextsTest, Tls11ClientIsAcceptedAtSeclevel0WithoutFlags) {
  TlsSettings settings = Settings();
  settings.cipher_list = "DEFAULT:@SECLEVEL=0";
  auto contexts = MustLoad(settings);
  ASSERT_NE(contexts, nullptr);
  CtxPtr tls11 = ClientContext(TLS1_1_VERSION, TLS1_1_VERSION, "DEFAULT:@SECLEVEL=0");
  HandshakeResult r = Handshake(contexts->tls(), tls11.get());
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.version, TLS1_1_VERSION);
}

TEST_F(TlsContextsTest, NoTlsv1AndNoTlsv11RefuseATls11Client) {
  TlsSettings settings = Settings();
  settings.cipher_list = "DEFAULT:@SECLEVEL=0";
  settings.no_tlsv1 = true;
  settings.no_tlsv1_1 = true;
  auto contexts = MustLoad(settings);
  ASSERT_NE(contexts, nullptr);
  CtxPtr tls11 = ClientContext(TLS1_1_VERSION, TLS1_1_VERSION, "DEFAULT:@SECLEVEL=0");
  EXPECT_FALSE(Handshake(contexts->tls(), tls11.get()).ok);
  CtxPtr tls12 = ClientContext(TLS1_2_VERSION, TLS1_2_VERSION);
  EXPECT_TRUE(Handshake(contexts->tls(), tls12.get()).ok);
}

TEST_F(TlsContextsTest, NoTlsv11AloneAlsoRefusesTls10) {
  TlsSettings settings = Settings();
  settings.cipher_list = "DEFAULT:@SECLEVEL=0";
  settings.no_tlsv1_1 = true;
  auto contexts = MustLoad(settings);
  ASSERT_NE(contexts, nullptr);
  CtxPtr tls10 = ClientContext(TLS1_VERSION, TLS1_VERSION, "DEFAULT:@SECLEVEL=0");
  EXPECT_FALSE(Handshake(contexts->tls(), tls10.get()).ok);
}

TEST_F(TlsContextsTest, DtlsVersionsFollowTheFlags) {
  TlsSettings settings = Settings();
  settings.no_tlsv1 = true;
  auto only12 = MustLoad(settings);
  ASSERT_NE(only12, nullptr);
  ASSERT_NE(only12->dtls(), nullptr);
  EXPECT_EQ(SSL_CTX_get_min_proto_version(only12->dtls()), DTLS1_2_VERSION);
  EXPECT_EQ(SSL_CTX_get_max_proto_version(only12->dtls()), DTLS1_2_VERSION);

  settings.no_tlsv1 = false;
  settings.no_tlsv1_2 = true;
  auto only10 = MustLoad(settings);
  ASSERT_NE(only10, nullptr);
  ASSERT_NE(only10->dtls(), nullptr);
  EXPECT_EQ(SSL_CTX_get_min_proto_version(only10->dtls()), DTLS1_VERSION);
  EXPECT_EQ(SSL_CTX_get_max_proto_version(only10->dtls()), DTLS1_VERSION);
}

TEST_F(TlsContextsTest, DtlsCannotRunWithNoTlsv1AndNoTlsv12ButTlsStillLoads) {
  TlsSettings settings = Settings();
  settings.no_tlsv1 = true;
  settings.no_tlsv1_2 = true;
  auto contexts = MustLoad(settings);
  ASSERT_NE(contexts, nullptr);
  EXPECT_NE(contexts->tls(), nullptr);
  EXPECT_EQ(contexts->dtls(), nullptr);
  EXPECT_NE(contexts->dtls_error().find("DTLS cannot run"), std::string::npos)
      << contexts->dtls_error();
  CtxPtr tls13 = ClientContext(TLS1_3_VERSION, TLS1_3_VERSION);
  EXPECT_TRUE(Handshake(contexts->tls(), tls13.get()).ok);
}

TEST_F(TlsContextsTest, KeepsNoResumptionStateAndRefusesRenegotiation) {
  auto contexts = MustLoad(Settings());
  ASSERT_NE(contexts, nullptr);
  for (SSL_CTX* ctx : {contexts->tls(), contexts->dtls()}) {
    EXPECT_NE(SSL_CTX_get_options(ctx) & SSL_OP_NO_TICKET, 0u);
    EXPECT_NE(SSL_CTX_get_options(ctx) & SSL_OP_NO_RENEGOTIATION, 0u);
    EXPECT_EQ(SSL_CTX_get_session_cache_mode(ctx), SSL_SESS_CACHE_OFF);
    EXPECT_EQ(SSL_CTX_get_num_tickets(ctx), 0u);
  }
  const long modes = SSL_CTX_get_mode(contexts->tls());
  EXPECT_NE(modes & SSL_MODE_ENABLE_PARTIAL_WRITE, 0);
  EXPECT_NE(modes & SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER, 0);
}

TEST_F(TlsContextsTest, CaFileRequiresAClientCertificateItTrusts) {
  const auto alice = certs_.Make("alice", "alice.client");
  const auto mallory = certs_.Make("mallory", "mallory.client");
  TlsSettings settings = Settings();
  settings.ca_file = alice.cert;
  auto contexts = MustLoad(settings);
  ASSERT_NE(contexts, nullptr);
  CtxPtr client = ClientContext(TLS1_2_VERSION, TLS1_3_VERSION);
  EXPECT_FALSE(Handshake(contexts->tls(), client.get()).ok);
  EXPECT_FALSE(
      Handshake(contexts->tls(), client.get(), mallory.cert.c_str(), mallory.key.c_str()).ok);
  EXPECT_TRUE(Handshake(contexts->tls(), client.get(), alice.cert.c_str(), alice.key.c_str()).ok);
}

TEST_F(TlsContextsTest, MissingCaFileNamesTheFile) {
  TlsSettings settings = Settings();
  settings.ca_file = certs_.Missing("ca.pem");
  EXPECT_EQ(LoadError(settings),
            "ca-file " + settings.ca_file + ": cannot open (No such file or directory)");
}

// RFC 7919's ffdhe2048 group as PEM DH parameters, made with OpenSSL's API.
std::string Ffdhe2048Pem() {
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "DH", nullptr);
  EVP_PKEY* params = nullptr;
  std::string pem;
  if (ctx != nullptr && EVP_PKEY_paramgen_init(ctx) == 1 &&
      EVP_PKEY_CTX_set_dh_nid(ctx, NID_ffdhe2048) == 1 && EVP_PKEY_paramgen(ctx, &params) == 1) {
    BIO* bio = BIO_new(BIO_s_mem());
    if (PEM_write_bio_Parameters(bio, params) == 1) {
      char* data = nullptr;
      const long n = BIO_get_mem_data(bio, &data);
      pem.assign(data, static_cast<size_t>(n));
    }
    BIO_free(bio);
  }
  EVP_PKEY_free(params);
  EVP_PKEY_CTX_free(ctx);
  return pem;
}

TEST_F(TlsContextsTest, DhFileWithDhParametersLoadsAndAnythingElseNamesTheFile) {
  const std::string pem = Ffdhe2048Pem();
  ASSERT_NE(pem.find("BEGIN DH PARAMETERS"), std::string::npos);
  TlsSettings settings = Settings();
  settings.dh_file = certs_.Write("dh.pem", pem);
  auto contexts = MustLoad(settings);
  ASSERT_NE(contexts, nullptr);
  CtxPtr client = ClientContext(TLS1_2_VERSION, TLS1_3_VERSION);
  EXPECT_TRUE(Handshake(contexts->tls(), client.get()).ok);

  settings.dh_file = server_.cert;
  EXPECT_EQ(LoadError(settings),
            "dh-file " + server_.cert + ": no DH parameters found (expected PEM)");
  settings.dh_file = certs_.Missing("absent-dh.pem");
  EXPECT_EQ(LoadError(settings), "dh-file " + settings.dh_file + ": cannot be read");
}

TEST_F(TlsContextsTest, DescribeNamesTheCertificate) {
  auto contexts = MustLoad(Settings());
  ASSERT_NE(contexts, nullptr);
  const std::string line = contexts->Describe();
  EXPECT_EQ(line.rfind("subject_cn=\"relay.test\" issuer_cn=\"relay.test\" not_after=20", 0), 0u)
      << line;
  EXPECT_NE(line.find("Z key=EC-P-256"), std::string::npos) << line;
}

}  // namespace
}  // namespace cv::net
