#include "cv/auth/entitlement_authenticator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "cv/auth/claims.h"

// Counts heap allocations made by this thread while armed, to check that Lookup() allocates
// nothing. Replacing the global operator new is allowed once per program; this is the only test
// file that does it. g++ 12 at -O2 sees the replaced delete's free() inlined against new and
// calls it a mismatch, which it is not: both replacements use malloc/free.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
namespace {
thread_local bool count_allocations = false;
thread_local size_t allocations = 0;
}  // namespace

void* operator new(size_t size) {
  if (count_allocations) ++allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace cv::auth {
namespace {

constexpr int64_t kNow = 1'700'000'000;
constexpr char kRealm[] = "example.org";
constexpr char kSecretA[] = "secret-a-0123456789";
constexpr char kSecretB[] = "secret-b-0123456789";
constexpr char kStaticSecret[] = "static-0123456789";

// "<kNow + 1 h>:<rest>", as a minter would write it.
std::string Rest(std::string_view rest, int64_t expiry = kNow + 3600) {
  return MintRestUsername(expiry, rest, ':');
}

Key KeyOf(std::string_view secret, std::string_view username) {
  return RestSecret(secret).KeyFor(username, kRealm);
}

class EntitlementAuthenticatorTest : public ::testing::Test {
 protected:
  static AuthConfig RestConfig() {
    AuthConfig c;
    c.realm = kRealm;
    c.use_auth_secret = true;
    c.secrets = {{"", "north", 0}};
    return c;
  }
  // Two key-id'd secrets and one coturn-style static-auth-secret.
  static AuthConfig KeyedConfig() {
    AuthConfig c = RestConfig();
    c.secrets = {{"2026a", kSecretA, 0}, {"2026b", kSecretB, 0}, {"", kStaticSecret, 0}};
    return c;
  }
  static std::unique_ptr<Authenticator> Make(AuthConfig c) {
    EXPECT_EQ(ValidateAuthConfig(c), "");
    auto a = MakeEntitlementAuthenticator(std::move(c));
    EXPECT_NE(a, nullptr);
    return a;
  }
  // Lookup must give exactly one candidate, the key of `secret`; then Authorize with it.
  Grant LookupOneAndAuthorize(const Authenticator& auth, const std::string& username,
                              std::string_view secret) {
    EXPECT_EQ(auth.Lookup(username, kNow, &out_), LookupStatus::kOk) << username;
    EXPECT_EQ(out_.count, 1u) << username;
    EXPECT_EQ(out_.keys[0].bytes, KeyOf(secret, username).bytes) << username;
    return auth.Authorize(username, 0, kNow);
  }
  Entitlement ProEntitlement(std::string_view claims) {
    auto auth = Make(KeyedConfig());
    Grant g = LookupOneAndAuthorize(*auth, Rest(claims), kSecretA);
    EXPECT_TRUE(g.allowed()) << claims << ": " << RefusalName(g.refusal);
    return g.entitlement;
  }

  Candidates out_;
};

// --- Ported from the plain authenticator: REST credentials and static users, coturn-style. ---

TEST_F(EntitlementAuthenticatorTest, RestCredentialGivesTheKnownKey) {
  auto auth = Make(RestConfig());
  EXPECT_EQ(auth->realm(), "example.org");
  // Expiry 1700000000 is not before now (equal): still valid.
  ASSERT_EQ(auth->Lookup("1700000000:alice", kNow, &out_), LookupStatus::kOk);
  ASSERT_EQ(out_.count, 1u);
  // md5("1700000000:alice:example.org:" + base64(hmac-sha1("north", "1700000000:alice"))),
  // computed with openssl/md5sum (see rest_credentials_test.cc).
  EXPECT_EQ(out_.keys[0].bytes,
            LongTermKey("1700000000:alice", "example.org", "Cd/49soE35ICqcJF/bCTn8Z4OyE=").bytes);
  Key known{};
  const uint8_t want[16] = {0xd9, 0xa6, 0xa3, 0xd9, 0x64, 0x46, 0x7b, 0xae,
                            0xff, 0xd2, 0xfc, 0xe4, 0x17, 0x04, 0xa9, 0x13};
  std::copy(std::begin(want), std::end(want), known.bytes.begin());
  EXPECT_EQ(out_.keys[0].bytes, known.bytes);
  Grant g = auth->Authorize("1700000000:alice", 0, kNow);
  EXPECT_TRUE(g.allowed());
  EXPECT_EQ(g.entitlement.user, "alice");
}

TEST_F(EntitlementAuthenticatorTest, ExpiryBoundaries) {
  auto auth = Make(RestConfig());
  EXPECT_EQ(auth->Lookup("1700000000:a", kNow - 1, &out_), LookupStatus::kOk);
  EXPECT_EQ(auth->Lookup("1700000000:a", kNow, &out_), LookupStatus::kOk);
  EXPECT_EQ(auth->Lookup("1700000000:a", kNow + 1, &out_), LookupStatus::kExpired);
  EXPECT_EQ(out_.count, 0u);
  EXPECT_EQ(auth->Lookup("0:a", kNow, &out_), LookupStatus::kExpired);
  EXPECT_EQ(auth->Authorize("1700000000:a", 0, kNow + 1).refusal, Refusal::kExpired);
}

TEST_F(EntitlementAuthenticatorTest, FarFutureExpiryIsRefused) {
  auto auth = Make(RestConfig());
  const int64_t limit = 30 * 86400;
  EXPECT_EQ(auth->Lookup(std::to_string(kNow + limit) + ":a", kNow, &out_), LookupStatus::kOk);
  EXPECT_EQ(auth->Lookup(std::to_string(kNow + limit + 1) + ":a", kNow, &out_),
            LookupStatus::kMalformed);
  EXPECT_EQ(auth->Lookup("9223372036854775807:a", kNow, &out_), LookupStatus::kMalformed);
  EXPECT_EQ(auth->Lookup("9223372036854775807:a", -5, &out_), LookupStatus::kOk);
  AuthConfig c = RestConfig();
  c.max_rest_lifetime_seconds = 0;  // coturn's behaviour
  auto unlimited = Make(c);
  EXPECT_EQ(unlimited->Lookup("9223372036854775807:a", kNow, &out_), LookupStatus::kOk);
}

TEST_F(EntitlementAuthenticatorTest, BadTimestampsAreMalformed) {
  auto auth = Make(RestConfig());
  for (std::string u :
       {std::string(30, '9') + ":alice", std::string(30, '9'),
        std::string("9223372036854775808:alice"), std::string("-1700000000:alice"),
        std::string("+1700000000:alice"), std::string(":alice"), std::string("abc:alice"),
        std::string("17000x0000:alice"), std::string("1700000000x")}) {
    EXPECT_EQ(auth->Lookup(u, kNow, &out_), LookupStatus::kMalformed) << u;
    EXPECT_EQ(out_.count, 0u);
    EXPECT_FALSE(auth->Authorize(u, 0, kNow).allowed()) << u;
  }
  // Nothing REST-like about it: simply not a user.
  EXPECT_EQ(auth->Lookup("alice", kNow, &out_), LookupStatus::kUnknownUser);
  EXPECT_EQ(auth->Lookup("", kNow, &out_), LookupStatus::kUnknownUser);
}

TEST_F(EntitlementAuthenticatorTest, OtherSeparator) {
  AuthConfig c = RestConfig();
  c.separator = '-';
  auto auth = Make(c);
  ASSERT_EQ(auth->Lookup("1700000000-alice", kNow, &out_), LookupStatus::kOk);
  EXPECT_EQ(out_.keys[0].bytes,
            RestSecret("north").KeyFor("1700000000-alice", "example.org").bytes);
  EXPECT_EQ(auth->Authorize("1700000000-alice:x", 0, kNow).entitlement.user, "alice:x");
  EXPECT_EQ(auth->Lookup("1700000000:alice", kNow, &out_), LookupStatus::kMalformed);
  // Claims ride after whichever separator is configured.
  const std::string claims = "1700000000-cv1;u=alice;s=s1;p=pro";
  ASSERT_EQ(auth->Lookup(claims, kNow, &out_), LookupStatus::kOk);
  EXPECT_EQ(auth->Authorize(claims, 0, kNow).entitlement.session, "s1");
}

TEST_F(EntitlementAuthenticatorTest, SeveralSecretsGiveCandidatesInOrder) {
  AuthConfig c = RestConfig();
  c.secrets = {{"", "north", 0}, {"", "south", 0}, {"", "east", 0}};
  auto auth = Make(c);
  ASSERT_EQ(auth->Lookup("1700000000:alice", kNow, &out_), LookupStatus::kOk);
  ASSERT_EQ(out_.count, 3u);
  EXPECT_EQ(out_.keys[0].bytes,
            RestSecret("north").KeyFor("1700000000:alice", "example.org").bytes);
  EXPECT_EQ(out_.keys[1].bytes,
            RestSecret("south").KeyFor("1700000000:alice", "example.org").bytes);
  EXPECT_EQ(out_.keys[2].bytes, RestSecret("east").KeyFor("1700000000:alice", "example.org").bytes);
  EXPECT_NE(out_.keys[0].bytes, out_.keys[1].bytes);
  EXPECT_TRUE(auth->Authorize("1700000000:alice", 2, kNow).allowed());
  EXPECT_EQ(auth->Authorize("1700000000:alice", 3, kNow).refusal, Refusal::kNoSuchKey);
}

TEST_F(EntitlementAuthenticatorTest, BareTimestampUsernameIsItsOwnUser) {
  auto auth = Make(RestConfig());
  ASSERT_EQ(auth->Lookup("1700000000", kNow, &out_), LookupStatus::kOk);
  EXPECT_EQ(out_.count, 1u);
  Grant g = auth->Authorize("1700000000", 0, kNow);
  EXPECT_TRUE(g.allowed());
  EXPECT_EQ(g.entitlement.user, "1700000000");
  EXPECT_EQ(auth->Authorize("1700000000:", 0, kNow).entitlement.user, "1700000000:");
}

TEST_F(EntitlementAuthenticatorTest, StaticUsers) {
  AuthConfig c;
  c.realm = "example.org";
  c.users.push_back(MakeUserWithPassword("alice", "example.org", "s3cret"));
  auto bob = MakeUserWithKey("bob", "0x8b83b40c22906c0c67a3c5bcc491bc14");
  ASSERT_TRUE(bob);
  c.users.push_back(*bob);
  auto auth = Make(c);
  ASSERT_EQ(auth->Lookup("alice", kNow, &out_), LookupStatus::kOk);
  ASSERT_EQ(out_.count, 1u);
  EXPECT_EQ(out_.keys[0].bytes, LongTermKey("alice", "example.org", "s3cret").bytes);
  ASSERT_EQ(auth->Lookup("bob", kNow, &out_), LookupStatus::kOk);
  EXPECT_EQ(out_.keys[0].bytes, LongTermKey("alice", "example.org", "s3cret").bytes);
  Grant g = auth->Authorize("alice", 0, kNow);
  EXPECT_TRUE(g.allowed());
  EXPECT_EQ(g.entitlement.user, "alice");
  EXPECT_EQ(auth->Authorize("alice", 1, kNow).refusal, Refusal::kNoSuchKey);
  // Exact names only.
  EXPECT_EQ(auth->Lookup("Alice", kNow, &out_), LookupStatus::kUnknownUser);
  EXPECT_EQ(auth->Lookup("alice ", kNow, &out_), LookupStatus::kUnknownUser);
  EXPECT_EQ(out_.count, 0u);
  // Without use_auth_secret a REST-looking name is just an unknown user.
  EXPECT_EQ(auth->Lookup("1700000000:alice", kNow, &out_), LookupStatus::kUnknownUser);
  EXPECT_EQ(auth->Lookup(std::string(30, '9'), kNow, &out_), LookupStatus::kUnknownUser);
  EXPECT_EQ(auth->Lookup(Rest("cv1;u=alice;s=s;p=pro"), kNow, &out_), LookupStatus::kUnknownUser);
  Grant no = auth->Authorize("carol", 0, kNow);
  EXPECT_FALSE(no.allowed());
  EXPECT_EQ(no.refusal, Refusal::kUnknownUser);
}

TEST_F(EntitlementAuthenticatorTest, StaticUsersAlongsideSecrets) {
  AuthConfig c = RestConfig();
  c.users.push_back(MakeUserWithPassword("alice", "example.org", "pw"));
  c.users.push_back(MakeUserWithPassword("legacy:1", "example.org", "pw"));
  auto auth = Make(c);
  EXPECT_EQ(auth->Lookup("alice", kNow, &out_), LookupStatus::kOk);
  // A static name containing the separator is found before being called malformed.
  EXPECT_EQ(auth->Lookup("legacy:1", kNow, &out_), LookupStatus::kOk);
  EXPECT_EQ(auth->Authorize("legacy:1", 0, kNow).entitlement.user, "legacy:1");
  EXPECT_EQ(auth->Lookup("mallory", kNow, &out_), LookupStatus::kUnknownUser);
}

TEST_F(EntitlementAuthenticatorTest, OverlongUsernameIsMalformed) {
  AuthConfig c = RestConfig();
  c.users.push_back(MakeUserWithPassword(std::string(512, 'a'), "example.org", "pw"));
  auto auth = Make(c);
  EXPECT_EQ(auth->Lookup(std::string(512, 'a'), kNow, &out_), LookupStatus::kOk);
  EXPECT_EQ(auth->Lookup(std::string(600, 'a'), kNow, &out_), LookupStatus::kMalformed);
  EXPECT_EQ(auth->Lookup("1700000000:" + std::string(600, 'a'), kNow, &out_),
            LookupStatus::kMalformed);
  EXPECT_EQ(out_.count, 0u);
  EXPECT_FALSE(auth->Authorize("1700000000:" + std::string(600, 'a'), 0, kNow).allowed());
}

TEST_F(EntitlementAuthenticatorTest, ControlBytesAndDirectivesAreJustData) {
  AuthConfig c = RestConfig();
  const std::string weird_static("ev\0il\r\n%n%s\"'", 13);
  c.users.push_back(MakeUserWithPassword(weird_static, "example.org", "pw"));
  auto auth = Make(c);
  for (std::string rest :
       {std::string("a\0b", 3), std::string("x\r\nINFO fake line"), std::string("%n%n%s%x"),
        std::string("\"'; DROP TABLE usage; --"), std::string("\xff\xfe\xc0\x80")}) {
    const std::string u = "1700000000:" + rest;
    ASSERT_EQ(auth->Lookup(u, kNow, &out_), LookupStatus::kOk);
    EXPECT_EQ(out_.keys[0].bytes, RestSecret("north").KeyFor(u, "example.org").bytes);
    Grant g = auth->Authorize(u, 0, kNow);
    EXPECT_TRUE(g.allowed());
    EXPECT_EQ(g.entitlement.user, rest);
  }
  ASSERT_EQ(auth->Lookup(weird_static, kNow, &out_), LookupStatus::kOk);
  EXPECT_EQ(auth->Authorize(weird_static, 0, kNow).entitlement.user, weird_static);
  EXPECT_EQ(auth->Lookup(std::string("ev\0il", 5), kNow, &out_), LookupStatus::kUnknownUser);
}

TEST_F(EntitlementAuthenticatorTest, UserFromHexKey) {
  auto a = MakeUserWithKey("a", "0x00112233445566778899AABBCCDDEEFF");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->name, "a");
  EXPECT_EQ(a->key.bytes[0], 0x00);
  EXPECT_EQ(a->key.bytes[10], 0xaa);
  EXPECT_EQ(a->key.bytes[15], 0xff);
  auto b = MakeUserWithKey("b", "00112233445566778899aabbccddeeff");
  ASSERT_TRUE(b);
  EXPECT_EQ(a->key.bytes, b->key.bytes);
  for (const char* bad :
       {"", "0x", "0x0011", "0x00112233445566778899aabbccddeeff00",
        "0x00112233445566778899aabbccddeefg", "0x 0112233445566778899aabbccddeeff",
        "00112233445566778899aabbccddeef", "0X0x112233445566778899aabbccddeeff"}) {
    EXPECT_FALSE(MakeUserWithKey("x", bad)) << bad;
  }
}

TEST_F(EntitlementAuthenticatorTest, InvalidConfigsAreRefused) {
  AuthConfig ok = RestConfig();
  EXPECT_EQ(ValidateAuthConfig(ok), "");

  AuthConfig c = ok;
  c.realm.clear();
  EXPECT_NE(ValidateAuthConfig(c), "");
  EXPECT_EQ(MakeEntitlementAuthenticator(c), nullptr);

  c = ok;
  c.secrets.clear();
  EXPECT_NE(ValidateAuthConfig(c), "");

  c = ok;
  c.secrets.assign(kMaxCandidates + 1, Secret{"", "s", 0});
  EXPECT_NE(ValidateAuthConfig(c), "");
  c.secrets.assign(kMaxCandidates, Secret{"", "s", 0});
  EXPECT_EQ(ValidateAuthConfig(c), "");

  c = ok;
  c.secrets = {{"", "a", 0}, {"", "", 0}};
  EXPECT_NE(ValidateAuthConfig(c), "");

  c = ok;
  c.separator = '7';
  EXPECT_NE(ValidateAuthConfig(c), "");

  c = ok;
  c.users.push_back(MakeUserWithPassword("a", "example.org", "x"));
  c.users.push_back(MakeUserWithPassword("a", "example.org", "y"));
  EXPECT_NE(ValidateAuthConfig(c), "");

  c = ok;
  c.max_rest_lifetime_seconds = -1;
  EXPECT_NE(ValidateAuthConfig(c), "");
}

TEST_F(EntitlementAuthenticatorTest, StatusNames) {
  EXPECT_STREQ(LookupStatusName(LookupStatus::kOk), "ok");
  EXPECT_STREQ(LookupStatusName(LookupStatus::kUnknownUser), "unknown_user");
  EXPECT_STREQ(LookupStatusName(LookupStatus::kExpired), "expired");
  EXPECT_STREQ(LookupStatusName(LookupStatus::kMalformed), "malformed");
  EXPECT_STREQ(LookupStatusName(LookupStatus::kUnknownKey), "unknown_key");
  EXPECT_STREQ(RefusalName(Refusal::kNone), "none");
  EXPECT_STREQ(RefusalName(Refusal::kPlanMayNotRelay), "plan_may_not_relay");
  EXPECT_STREQ(RefusalName(Refusal::kClaimlessRefused), "claimless_refused");
  EXPECT_STREQ(RefusalName(Refusal::kNoSuchKey), "no_such_key");
  EXPECT_STREQ(RefusalName(Refusal::kExpired), "expired");
  EXPECT_STREQ(RefusalName(Refusal::kUnknownUser), "unknown_user");
}

// --- Key ids, rotation and the new configuration checks. ---

TEST_F(EntitlementAuthenticatorTest, KeyIdSelectsExactlyOneCandidate) {
  auto auth = Make(KeyedConfig());
  const std::string b = Rest("cv1;k=2026b;u=alice;s=s1;p=pro");
  Grant g = LookupOneAndAuthorize(*auth, b, kSecretB);
  ASSERT_TRUE(g.allowed());
  EXPECT_EQ(g.entitlement.key_id, "2026b");
  EXPECT_EQ(auth->Authorize(b, 1, kNow).refusal, Refusal::kNoSuchKey);
  // Claims without k= are for the kid-less (static-auth-secret) secrets only.
  const std::string none = Rest("cv1;u=alice;s=s1;p=pro");
  g = LookupOneAndAuthorize(*auth, none, kStaticSecret);
  ASSERT_TRUE(g.allowed());
  EXPECT_EQ(g.entitlement.key_id, "");
  // Claimless: every secret, in configured order.
  const std::string claimless = Rest("alice");
  ASSERT_EQ(auth->Lookup(claimless, kNow, &out_), LookupStatus::kOk);
  ASSERT_EQ(out_.count, 3u);
  EXPECT_EQ(out_.keys[0].bytes, KeyOf(kSecretA, claimless).bytes);
  EXPECT_EQ(out_.keys[1].bytes, KeyOf(kSecretB, claimless).bytes);
  EXPECT_EQ(out_.keys[2].bytes, KeyOf(kStaticSecret, claimless).bytes);
  EXPECT_EQ(auth->Authorize(claimless, 0, kNow).entitlement.key_id, "2026a");
  EXPECT_EQ(auth->Authorize(claimless, 1, kNow).entitlement.key_id, "2026b");
  EXPECT_EQ(auth->Authorize(claimless, 2, kNow).entitlement.key_id, "");
  EXPECT_EQ(auth->Authorize(claimless, 3, kNow).refusal, Refusal::kNoSuchKey);
}

TEST_F(EntitlementAuthenticatorTest, UnknownKeyIdIsUnknownKey) {
  auto auth = Make(KeyedConfig());
  const std::string u = Rest("cv1;k=2025z;u=alice;s=s1;p=pro");
  EXPECT_EQ(auth->Lookup(u, kNow, &out_), LookupStatus::kUnknownKey);
  EXPECT_EQ(out_.count, 0u);
  EXPECT_EQ(auth->Authorize(u, 0, kNow).refusal, Refusal::kNoSuchKey);
  // Key ids are case-sensitive.
  EXPECT_EQ(auth->Lookup(Rest("cv1;k=2026A;u=alice;s=s1;p=pro"), kNow, &out_),
            LookupStatus::kUnknownKey);
  // Claims without k= when every secret has a key id.
  AuthConfig c = KeyedConfig();
  c.secrets.pop_back();
  auto keyed_only = Make(c);
  EXPECT_EQ(keyed_only->Lookup(Rest("cv1;u=alice;s=s1;p=pro"), kNow, &out_),
            LookupStatus::kUnknownKey);
}

TEST_F(EntitlementAuthenticatorTest, RetiredSecretIsUnknownKeyAndNoCandidate) {
  AuthConfig c = RestConfig();
  c.secrets = {{"old", kSecretA, kNow - 1}, {"new", kSecretB, 0}};
  auto auth = Make(c);
  const std::string old_claims = Rest("cv1;k=old;u=alice;s=s1;p=pro");
  EXPECT_EQ(auth->Lookup(old_claims, kNow, &out_), LookupStatus::kUnknownKey);
  EXPECT_EQ(auth->Authorize(old_claims, 0, kNow).refusal, Refusal::kNoSuchKey);
  // Up to and including its not-after time it still verifies.
  ASSERT_EQ(auth->Lookup(old_claims, kNow - 1, &out_), LookupStatus::kOk);
  EXPECT_EQ(out_.keys[0].bytes, KeyOf(kSecretA, old_claims).bytes);
  // A claimless credential is tried against the active secrets only.
  const std::string claimless = Rest("bob");
  Grant g = LookupOneAndAuthorize(*auth, claimless, kSecretB);
  ASSERT_TRUE(g.allowed());
  EXPECT_EQ(g.entitlement.key_id, "new");
  // Every secret retired: nothing can verify.
  c.secrets = {{"old", kSecretA, kNow - 1}};
  auto retired = Make(c);
  EXPECT_EQ(retired->Lookup(claimless, kNow, &out_), LookupStatus::kUnknownKey);
  EXPECT_EQ(out_.count, 0u);
}

TEST_F(EntitlementAuthenticatorTest, BothSecretsVerifyDuringTheOverlap) {
  AuthConfig c = RestConfig();
  c.secrets = {{"new", kSecretB, 0}, {"old", kSecretA, kNow + 86400}};
  auto auth = Make(c);
  Grant old_grant = LookupOneAndAuthorize(*auth, Rest("cv1;k=old;u=alice;s=s1;p=pro"), kSecretA);
  Grant new_grant = LookupOneAndAuthorize(*auth, Rest("cv1;k=new;u=alice;s=s1;p=pro"), kSecretB);
  EXPECT_TRUE(old_grant.allowed());
  EXPECT_EQ(old_grant.entitlement.key_id, "old");
  EXPECT_TRUE(new_grant.allowed());
  EXPECT_EQ(new_grant.entitlement.key_id, "new");
  const std::string claimless = Rest("bob");
  ASSERT_EQ(auth->Lookup(claimless, kNow, &out_), LookupStatus::kOk);
  ASSERT_EQ(out_.count, 2u);
  EXPECT_EQ(out_.keys[1].bytes, KeyOf(kSecretA, claimless).bytes);
  EXPECT_EQ(auth->Authorize(claimless, 1, kNow).entitlement.key_id, "old");
}

TEST_F(EntitlementAuthenticatorTest, KeyIdAndClaimlessPlanConfigChecks) {
  AuthConfig c = KeyedConfig();
  c.secrets.push_back({"bad.kid", kSecretA, 0});
  EXPECT_NE(ValidateAuthConfig(c), "");
  c = KeyedConfig();
  c.secrets.push_back({std::string(17, 'k'), kSecretA, 0});
  EXPECT_NE(ValidateAuthConfig(c), "");
  c = KeyedConfig();
  c.secrets.push_back({"2026a", kSecretB, 0});
  EXPECT_NE(ValidateAuthConfig(c), "");
  EXPECT_EQ(MakeEntitlementAuthenticator(c), nullptr);
  // Several kid-less secrets are coturn's rotation, and fine.
  c = KeyedConfig();
  c.secrets.push_back({"", kSecretB, 0});
  EXPECT_EQ(ValidateAuthConfig(c), "");

  c = KeyedConfig();
  c.claimless_plan = "platinum";
  EXPECT_EQ(ValidateAuthConfig(c), "claimless-plan 'platinum' is not a plan in the plans table");
  c.claimless_plan = "";
  EXPECT_EQ(ValidateAuthConfig(c), "");
  c.claimless_plan = "founder";
  EXPECT_EQ(ValidateAuthConfig(c), "");
}

// --- Claims and plans. ---

TEST_F(EntitlementAuthenticatorTest, FreePlanMayNotRelayEvenWithAValidKey) {
  auto auth = Make(KeyedConfig());
  const std::string u = Rest("cv1;k=2026a;u=alice;s=s1;p=free");
  Grant g = LookupOneAndAuthorize(*auth, u, kSecretA);
  EXPECT_FALSE(g.allowed());
  EXPECT_EQ(g.refusal, Refusal::kPlanMayNotRelay);
  EXPECT_EQ(g.entitlement.plan, "free");
}

TEST_F(EntitlementAuthenticatorTest, UnknownPlanReadsFreeAndMayNotRelay) {
  auto auth = Make(KeyedConfig());
  Grant g = LookupOneAndAuthorize(*auth, Rest("cv1;k=2026a;u=alice;s=s1;p=platinum"), kSecretA);
  EXPECT_EQ(g.refusal, Refusal::kPlanMayNotRelay);
  EXPECT_EQ(g.entitlement.plan, "free");
}

TEST_F(EntitlementAuthenticatorTest, ProClaimsGiveTheirEntitlement) {
  const Entitlement e = ProEntitlement("cv1;k=2026a;u=alice;s=9f2c41d0;l=home;p=pro;v=1;g=2");
  EXPECT_EQ(e.user, "alice");
  EXPECT_EQ(e.session, "9f2c41d0");
  EXPECT_EQ(e.line, "home");
  EXPECT_EQ(e.plan, "pro");
  EXPECT_EQ(e.key_id, "2026a");
  EXPECT_TRUE(e.claims);
  EXPECT_TRUE(e.video);
  EXPECT_EQ(e.group_size, 2u);
  EXPECT_EQ(e.max_allocations_per_user, 12u);
  EXPECT_EQ(e.max_allocations_per_session, 3u);  // 3 per peer × 1 peer
  EXPECT_EQ(e.bandwidth_kbps, 4000u);            // pro's video figure
  EXPECT_EQ(e.max_duration_s, 0u);
}

TEST_F(EntitlementAuthenticatorTest, BandwidthFollowsAudioVideoAndGroupSize) {
  EXPECT_EQ(ProEntitlement("cv1;k=2026a;u=a;s=s;p=pro").bandwidth_kbps, 256u);
  EXPECT_EQ(ProEntitlement("cv1;k=2026a;u=a;s=s;p=pro;v=0;g=4").bandwidth_kbps, 256u);
  EXPECT_EQ(ProEntitlement("cv1;k=2026a;u=a;s=s;p=pro;v=1;g=4").bandwidth_kbps, 4000u);
  // Above 4 people the large-group figure applies, video or not.
  EXPECT_EQ(ProEntitlement("cv1;k=2026a;u=a;s=s;p=pro;v=1;g=5").bandwidth_kbps, 1500u);
  EXPECT_EQ(ProEntitlement("cv1;k=2026a;u=a;s=s;p=pro;v=0;g=5").bandwidth_kbps, 1500u);
  // The claims' b, never above the plan's figure.
  EXPECT_EQ(ProEntitlement("cv1;k=2026a;u=a;s=s;p=pro;v=1;b=1000").bandwidth_kbps, 1000u);
  EXPECT_EQ(ProEntitlement("cv1;k=2026a;u=a;s=s;p=pro;v=1;b=9000").bandwidth_kbps, 4000u);
  EXPECT_EQ(ProEntitlement("cv1;k=2026a;u=a;s=s;p=pro;g=6;b=2000").bandwidth_kbps, 1500u);
  EXPECT_EQ(ProEntitlement("cv1;k=2026a;u=a;s=s;p=trial;v=1").bandwidth_kbps, 2500u);
  EXPECT_EQ(ProEntitlement("cv1;k=2026a;u=a;s=s;p=founder;v=1;g=30").bandwidth_kbps, 2500u);
}

TEST_F(EntitlementAuthenticatorTest, GroupSizeIsCappedByThePlanAndSetsTheSessionCap) {
  Entitlement e = ProEntitlement("cv1;k=2026a;u=a;s=s;p=pro;g=6");
  EXPECT_EQ(e.group_size, 6u);
  EXPECT_EQ(e.max_allocations_per_session, 15u);  // 3 × 5 peers
  e = ProEntitlement("cv1;k=2026a;u=a;s=s;p=pro;g=40");
  EXPECT_EQ(e.group_size, 6u);  // pro's limit
  EXPECT_EQ(e.max_allocations_per_session, 15u);
  e = ProEntitlement("cv1;k=2026a;u=a;s=s;p=pro;g=1");
  EXPECT_EQ(e.group_size, 1u);
  EXPECT_EQ(e.max_allocations_per_session, 3u);  // at least one peer
  e = ProEntitlement("cv1;k=2026a;u=a;s=s;p=business;g=40");
  EXPECT_EQ(e.group_size, 10u);
  EXPECT_EQ(e.max_allocations_per_user, 30u);
  EXPECT_EQ(e.max_allocations_per_session, 27u);
  e = ProEntitlement("cv1;k=2026a;u=a;s=s;p=founder;g=64");  // founder: no group limit
  EXPECT_EQ(e.group_size, 64u);
  EXPECT_EQ(e.max_allocations_per_session, 189u);
}

TEST_F(EntitlementAuthenticatorTest, DurationIsTheSmallerOfClaimAndPlan) {
  EXPECT_EQ(ProEntitlement("cv1;k=2026a;u=a;s=s;p=pro").max_duration_s, 0u);
  EXPECT_EQ(ProEntitlement("cv1;k=2026a;u=a;s=s;p=pro;d=100").max_duration_s, 100u);
  EXPECT_EQ(ProEntitlement("cv1;k=2026a;u=a;s=s;p=trial").max_duration_s, 3600u);
  EXPECT_EQ(ProEntitlement("cv1;k=2026a;u=a;s=s;p=trial;d=100").max_duration_s, 100u);
  EXPECT_EQ(ProEntitlement("cv1;k=2026a;u=a;s=s;p=trial;d=7200").max_duration_s, 3600u);
}

TEST_F(EntitlementAuthenticatorTest, PlanTableShapesTheEntitlement) {
  // A relaying plan whose video stays direct, without per-peer or large-group figures.
  std::string error;
  auto plans = Plans::Parse(R"({"version": 1, "plans": {"lite": {"turn_relay": true,
      "video": "direct_only", "group_size": 0, "relay": {"allocations_per_peer": 0,
      "bandwidth_kbps": {"audio": 64, "video": 900, "large_group": 0}}}}})",
                            "test", &error);
  ASSERT_TRUE(plans) << error;
  AuthConfig c = KeyedConfig();
  c.plans = *plans;
  auto auth = Make(c);
  Grant g = LookupOneAndAuthorize(*auth, Rest("cv1;k=2026a;u=a;s=s;p=lite;v=1;g=12"), kSecretA);
  ASSERT_TRUE(g.allowed());
  EXPECT_FALSE(g.entitlement.video);                         // direct_only: never via the relay
  EXPECT_EQ(g.entitlement.bandwidth_kbps, 64u);              // so the audio figure
  EXPECT_EQ(g.entitlement.max_allocations_per_session, 0u);  // no per-peer figure: no cap
  EXPECT_EQ(g.entitlement.group_size, 12u);
  // An audio figure of 0 means no cap, unless the claims give one.
  c.plans =
      *Plans::Parse(R"({"version": 1, "plans": {"lite": {"turn_relay": true}}})", "t", &error);
  auth = Make(c);
  g = LookupOneAndAuthorize(*auth, Rest("cv1;k=2026a;u=a;s=s;p=lite"), kSecretA);
  ASSERT_TRUE(g.allowed());
  EXPECT_EQ(g.entitlement.bandwidth_kbps, 0u);
  g = LookupOneAndAuthorize(*auth, Rest("cv1;k=2026a;u=a;s=s;p=lite;b=300"), kSecretA);
  EXPECT_EQ(g.entitlement.bandwidth_kbps, 300u);
}

TEST_F(EntitlementAuthenticatorTest, ClaimlessCredentialsGetTheClaimlessPlan) {
  auto auth = Make(KeyedConfig());  // claimless_plan defaults to "pro"
  const std::string u = Rest("bob");
  ASSERT_EQ(auth->Lookup(u, kNow, &out_), LookupStatus::kOk);
  Grant g = auth->Authorize(u, 0, kNow);
  ASSERT_TRUE(g.allowed());
  const Entitlement& e = g.entitlement;
  EXPECT_EQ(e.user, "bob");
  EXPECT_EQ(e.session, "");
  EXPECT_EQ(e.line, "");
  EXPECT_EQ(e.plan, "pro");
  EXPECT_EQ(e.key_id, "2026a");
  EXPECT_FALSE(e.claims);
  EXPECT_TRUE(e.video);
  EXPECT_EQ(e.group_size, 2u);
  EXPECT_EQ(e.max_allocations_per_user, 12u);
  EXPECT_EQ(e.max_allocations_per_session, 0u);
  EXPECT_EQ(e.bandwidth_kbps, 4000u);
  EXPECT_EQ(e.max_duration_s, 0u);

  AuthConfig c = KeyedConfig();
  c.claimless_plan = "trial";
  g = Make(c)->Authorize(u, 0, kNow);
  ASSERT_TRUE(g.allowed());
  EXPECT_EQ(g.entitlement.plan, "trial");
  EXPECT_EQ(g.entitlement.bandwidth_kbps, 2500u);
  EXPECT_EQ(g.entitlement.max_duration_s, 3600u);

  c.claimless_plan = "free";
  g = Make(c)->Authorize(u, 0, kNow);
  EXPECT_EQ(g.refusal, Refusal::kPlanMayNotRelay);
}

TEST_F(EntitlementAuthenticatorTest, ClaimlessCredentialsCanBeSwitchedOff) {
  AuthConfig c = KeyedConfig();
  c.claimless_plan = "";
  c.users.push_back(MakeUserWithPassword("carol", kRealm, "pw"));
  auto auth = Make(c);
  // Lookup still answers, so the 403 comes only after the credential is proven.
  const std::string u = Rest("bob");
  ASSERT_EQ(auth->Lookup(u, kNow, &out_), LookupStatus::kOk);
  EXPECT_EQ(auth->Authorize(u, 0, kNow).refusal, Refusal::kClaimlessRefused);
  ASSERT_EQ(auth->Lookup("carol", kNow, &out_), LookupStatus::kOk);
  EXPECT_EQ(auth->Authorize("carol", 0, kNow).refusal, Refusal::kClaimlessRefused);
  // Claims are unaffected.
  EXPECT_TRUE(LookupOneAndAuthorize(*auth, Rest("cv1;k=2026a;u=a;s=s;p=pro"), kSecretA).allowed());
}

TEST_F(EntitlementAuthenticatorTest, StaticUserGetsTheClaimlessPlan) {
  AuthConfig c = KeyedConfig();
  c.claimless_plan = "business";
  c.users.push_back(MakeUserWithPassword("carol", kRealm, "pw"));
  auto auth = Make(c);
  ASSERT_EQ(auth->Lookup("carol", kNow, &out_), LookupStatus::kOk);
  Grant g = auth->Authorize("carol", 0, kNow);
  ASSERT_TRUE(g.allowed());
  EXPECT_EQ(g.entitlement.user, "carol");
  EXPECT_EQ(g.entitlement.plan, "business");
  EXPECT_EQ(g.entitlement.key_id, "");
  EXPECT_FALSE(g.entitlement.claims);
  EXPECT_TRUE(g.entitlement.video);
  EXPECT_EQ(g.entitlement.max_allocations_per_user, 30u);
  EXPECT_EQ(g.entitlement.bandwidth_kbps, 6000u);
}

TEST_F(EntitlementAuthenticatorTest, MalformedClaimsAreMalformed) {
  auto auth = Make(KeyedConfig());
  for (std::string rest : {"cv1", "cv1;", "cv1;u=a;s=s", "cv1;k=2026a;u=a;s=s;p=pro;x=1",
                           "cv1;k=2026a;u=a;s=s;p=pro;g=0", "cv1;k=2026a;u=a;s=s;p=pro;g=65",
                           "cv1;k=2026a;u=a b;s=s;p=pro", "cv1;k=2026a;u=a;u=a;s=s;p=pro",
                           "cv1;k=bad.kid;u=a;s=s;p=pro"}) {
    const std::string u = Rest(rest);
    EXPECT_EQ(auth->Lookup(u, kNow, &out_), LookupStatus::kMalformed) << rest;
    EXPECT_EQ(out_.count, 0u);
    EXPECT_EQ(auth->Authorize(u, 0, kNow).refusal, Refusal::kUnknownUser) << rest;
    EXPECT_EQ(auth->ClaimedUser(u), "") << rest;
  }
  // Expiry is checked first.
  EXPECT_EQ(auth->Lookup(Rest("cv1;x=1", kNow - 1), kNow, &out_), LookupStatus::kExpired);
  // Not claims at all (another version tag): a claimless credential whose user is the whole rest.
  const std::string other = Rest("cv2;u=a;s=s;p=pro");
  ASSERT_EQ(auth->Lookup(other, kNow, &out_), LookupStatus::kOk);
  EXPECT_EQ(auth->Authorize(other, 0, kNow).entitlement.user, "cv2;u=a;s=s;p=pro");
}

TEST_F(EntitlementAuthenticatorTest, LookupAndAuthorizeAgree) {
  AuthConfig c = KeyedConfig();
  c.secrets[0].not_after = kNow - 1;  // 2026a retired
  c.users.push_back(MakeUserWithPassword("carol", kRealm, "pw"));
  auto auth = Make(c);
  const std::vector<std::string> names = {Rest("cv1;k=2026a;u=a;s=s;p=pro"),
                                          Rest("cv1;k=2026b;u=a;s=s;p=pro"),
                                          Rest("cv1;u=a;s=s;p=pro"),
                                          Rest("cv1;u=a;s=s"),
                                          Rest("bob"),
                                          Rest("bob", kNow - 1),
                                          "carol",
                                          "dave",
                                          "12x",
                                          Rest("cv1;k=2026b;u=a;s=s;p=pro", kNow + 365 * 86400)};
  for (const std::string& u : names) {
    const LookupStatus s = auth->Lookup(u, kNow, &out_);
    for (size_t i = 0; i <= kMaxCandidates; ++i) {
      const Grant g = auth->Authorize(u, i, kNow);
      const bool verified = s == LookupStatus::kOk && i < out_.count;
      // Either Authorize knows the key (and decides on the plan), or Lookup gave none such.
      EXPECT_EQ(verified, g.refusal != Refusal::kNoSuchKey && g.refusal != Refusal::kUnknownUser &&
                              g.refusal != Refusal::kExpired)
          << u << " #" << i;
    }
  }
}

TEST_F(EntitlementAuthenticatorTest, ClaimedUser) {
  AuthConfig c = KeyedConfig();
  c.users.push_back(MakeUserWithPassword("carol", kRealm, "pw"));
  auto auth = Make(c);
  // Claims: the u= value, before and without any verification.
  EXPECT_EQ(auth->ClaimedUser(Rest("cv1;k=2026a;u=alice;s=s;p=pro")), "alice");
  EXPECT_EQ(auth->ClaimedUser(Rest("cv1;k=nokey;u=alice;s=s;p=free")), "alice");
  EXPECT_EQ(auth->ClaimedUser(Rest("cv1;u=alice;s=s;p=pro", kNow - 100)), "alice");
  EXPECT_EQ(auth->ClaimedUser(Rest("cv1;u=alice;s=s")), "");  // p missing: names nobody
  // Claimless REST: the rest, or the whole username when there is none.
  EXPECT_EQ(auth->ClaimedUser(Rest("bob")), "bob");
  EXPECT_EQ(auth->ClaimedUser("1700000000"), "1700000000");
  EXPECT_EQ(auth->ClaimedUser("1700000000:"), "1700000000:");
  // Static users by name; anything else names nobody.
  EXPECT_EQ(auth->ClaimedUser("carol"), "carol");
  EXPECT_EQ(auth->ClaimedUser("dave"), "");
  EXPECT_EQ(auth->ClaimedUser("x1700000000:bob"), "");
  EXPECT_EQ(auth->ClaimedUser(""), "");
  EXPECT_EQ(auth->ClaimedUser(Rest(std::string(600, 'b'))), "");
  // Without use_auth_secret REST names are nobody either.
  c.use_auth_secret = false;
  auto static_only = Make(c);
  EXPECT_EQ(static_only->ClaimedUser(Rest("bob")), "");
  EXPECT_EQ(static_only->ClaimedUser("carol"), "carol");
}

TEST_F(EntitlementAuthenticatorTest, TamperingAClaimChangesTheKey) {
  auto auth = Make(KeyedConfig());
  const std::string original = Rest("cv1;k=2026a;u=alice;s=s1;p=pro;g=2");
  const std::string password = RestPassword(kSecretA, original);
  const RestSecret secret(kSecretA);
  for (std::string tampered :
       {Rest("cv1;k=2026a;u=alice;s=s1;p=founder;g=2"), Rest("cv1;k=2026a;u=alice;s=s1;p=pro;g=6"),
        Rest("cv1;k=2026a;u=mallory;s=s1;p=pro;g=2"),
        Rest("cv1;k=2026a;u=alice;s=s1;p=pro;g=2;b=1000000"),
        Rest("cv1;k=2026a;u=alice;s=s1;p=pro;g=2", kNow + 7200)}) {
    EXPECT_NE(secret.KeyFor(tampered, kRealm).bytes, secret.KeyFor(original, kRealm).bytes);
    // The relay's key for the tampered name is not the one the original password gives.
    ASSERT_EQ(auth->Lookup(tampered, kNow, &out_), LookupStatus::kOk);
    ASSERT_EQ(out_.count, 1u);
    EXPECT_NE(out_.keys[0].bytes, LongTermKey(tampered, kRealm, password).bytes) << tampered;
  }
  ASSERT_EQ(auth->Lookup(original, kNow, &out_), LookupStatus::kOk);
  EXPECT_EQ(out_.keys[0].bytes, LongTermKey(original, kRealm, password).bytes);
}

TEST_F(EntitlementAuthenticatorTest, LookupDoesNotAllocate) {
  AuthConfig c = KeyedConfig();
  c.users.push_back(MakeUserWithPassword("carol", kRealm, "pw"));
  auto auth = Make(c);
  const std::string user64(64, 'u');
  const std::vector<std::string> names = {
      Rest("cv1;k=2026a;u=" + user64 + ";s=" + user64 + ";l=home;p=business;v=1;g=9;b=5;d=9"),
      Rest("cv1;k=2026z;u=a;s=s;p=pro"),
      Rest("cv1;u=a;s=s;p=pro;zz=1"),
      Rest("a-claimless-user-with-a-long-name-" + user64),
      "carol",
      "nobody-with-a-long-name-" + user64,
      Rest("x", kNow - 1),
      std::string(600, 'x')};
  // The counter sees an allocation (called through a volatile pointer so it cannot be elided).
  void* (*volatile allocate)(size_t) = static_cast<void* (*)(size_t)>(&::operator new);
  allocations = 0;
  count_allocations = true;
  void* p = allocate(64);
  count_allocations = false;
  ::operator delete(p);
  ASSERT_EQ(allocations, 1u);
  for (const std::string& u : names) {
    allocations = 0;
    count_allocations = true;
    const LookupStatus s = auth->Lookup(u, kNow, &out_);
    count_allocations = false;
    EXPECT_EQ(allocations, 0u) << u << " → " << LookupStatusName(s);
  }
}

}  // namespace
}  // namespace cv::auth
