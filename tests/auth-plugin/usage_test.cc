#include "cv/auth/usage.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <ctime>

namespace cv::auth {
namespace {

constexpr int64_t kDayMs = 86'400'000;

// 2026-11-21T13:45:30.250Z
constexpr int64_t kNov21 = 1'795'268'730'250;

TEST(EndReasonTest, NamesAreStableAndRoundTrip) {
  const char* const names[] = {"live",    "client",   "lifetime", "duration_cap", "quota",
                               "revoked", "operator", "shutdown", "interrupted"};
  static_assert(std::size(names) == kEndReasonCount);
  for (size_t i = 0; i < kEndReasonCount; ++i) {
    const auto reason = static_cast<EndReason>(i);
    EXPECT_STREQ(EndReasonName(reason), names[i]);
    EXPECT_EQ(ParseEndReason(names[i]), reason);
  }
  EXPECT_EQ(ParseEndReason(""), std::nullopt);
  EXPECT_EQ(ParseEndReason("Live"), std::nullopt);
  EXPECT_EQ(ParseEndReason("interrupted "), std::nullopt);
}

TEST(UtcTest, DayAndMonthOfAKnownTime) {
  EXPECT_EQ(UtcDay(kNov21), "2026-11-21");
  EXPECT_EQ(UtcMonth(kNov21), "2026-11");
  EXPECT_EQ(UtcDayStartMs(kNov21), 1'795'219'200'000);        // 2026-11-21T00:00:00Z
  EXPECT_EQ(UtcMonthStartMs(kNov21), 1'793'491'200'000);      // 2026-11-01T00:00:00Z
  EXPECT_EQ(UtcNextMonthStartMs(kNov21), 1'796'083'200'000);  // 2026-12-01T00:00:00Z
}

TEST(UtcTest, BoundariesBelongToTheLaterPeriod) {
  const int64_t dec1 = 1'796'083'200'000;  // 2026-12-01T00:00:00Z
  EXPECT_EQ(UtcDay(dec1 - 1), "2026-11-30");
  EXPECT_EQ(UtcDay(dec1), "2026-12-01");
  EXPECT_EQ(UtcMonthStartMs(dec1), dec1);
  EXPECT_EQ(UtcMonthStartMs(dec1 - 1), 1'793'491'200'000);
  EXPECT_EQ(UtcDayStartMs(dec1), dec1);
  EXPECT_EQ(UtcDayStartMs(dec1 - 1), dec1 - kDayMs);
}

TEST(UtcTest, DecemberRollsIntoNextYear) {
  const int64_t dec31 = 1'798'675'200'000;  // 2026-12-31T00:00:00Z
  EXPECT_EQ(UtcDay(dec31), "2026-12-31");
  EXPECT_EQ(UtcNextMonthStartMs(dec31), dec31 + kDayMs);  // 2027-01-01
  EXPECT_EQ(UtcMonth(dec31 + kDayMs), "2027-01");
}

TEST(UtcTest, LeapDays) {
  const int64_t feb29_2024 = 1'709'164'800'000;  // 2024-02-29T00:00:00Z
  EXPECT_EQ(UtcDay(feb29_2024), "2024-02-29");
  EXPECT_EQ(UtcNextMonthStartMs(feb29_2024), feb29_2024 + kDayMs);
  EXPECT_EQ(UtcDay(feb29_2024 + kDayMs), "2024-03-01");
  // 2100 is not a leap year, 2000 is.
  EXPECT_EQ(UtcDay(4'107'456'000'000), "2100-02-28");
  EXPECT_EQ(UtcDay(4'107'456'000'000 + kDayMs), "2100-03-01");
  EXPECT_EQ(UtcDay(951'782'400'000), "2000-02-29");
}

TEST(UtcTest, TimesBefore1970RoundDown) {
  EXPECT_EQ(UtcDay(0), "1970-01-01");
  EXPECT_EQ(UtcDay(-1), "1969-12-31");
  EXPECT_EQ(UtcDayStartMs(-1), -kDayMs);
  EXPECT_EQ(UtcDayStartMs(-kDayMs), -kDayMs);
  EXPECT_EQ(UtcMonthStartMs(-1), -31 * kDayMs);  // 1969-12-01
  EXPECT_EQ(UtcNextMonthStartMs(-1), 0);
  EXPECT_EQ(UtcMonth(-1), "1969-12");
}

TEST(UtcTest, ExtremeTimesAreClampedNotOverflowed) {
  // ECMAScript's Date range; nothing past it may overflow (the UBSan build checks).
  constexpr int64_t kLimit = 8'640'000'000'000'000;
  EXPECT_EQ(UtcDayStartMs(INT64_MIN), -kLimit);
  EXPECT_EQ(UtcDayStartMs(INT64_MAX), kLimit);
  EXPECT_EQ(UtcDay(INT64_MIN), "-271821-04-20");
  EXPECT_EQ(UtcDay(INT64_MAX), "275760-09-13");
  EXPECT_EQ(UtcMonth(INT64_MAX), "275760-09");
  EXPECT_LT(UtcMonthStartMs(INT64_MIN), -kLimit);
  EXPECT_GT(UtcNextMonthStartMs(INT64_MAX), kLimit);
}

// Every day from 1900 to 2200 agrees with the C library's calendar.
TEST(UtcTest, AgreesWithGmtimeForThreeCenturies) {
  const int64_t from = -2'208'988'800'000;  // 1900-01-01
  const int64_t to = 7'258'118'400'000;     // 2200-01-01
  for (int64_t ms = from; ms < to; ms += kDayMs + 3'600'000 + 61'000) {
    const time_t seconds = static_cast<time_t>(ms / 1000);
    std::tm tm{};
    ASSERT_NE(gmtime_r(&seconds, &tm), nullptr);
    char day[64];
    std::snprintf(day, sizeof day, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    ASSERT_EQ(UtcDay(ms), day) << ms;
    ASSERT_EQ(UtcDay(UtcDayStartMs(ms)), day) << ms;
    ASSERT_EQ(UtcDayStartMs(ms) % 1000, 0);
    ASSERT_LE(UtcDayStartMs(ms), ms);
    ASSERT_GT(UtcDayStartMs(ms) + kDayMs, ms);
    std::tm first = tm;
    first.tm_mday = 1;
    first.tm_hour = first.tm_min = first.tm_sec = 0;
    ASSERT_EQ(UtcMonthStartMs(ms), static_cast<int64_t>(timegm(&first)) * 1000) << ms;
    std::tm next = first;
    next.tm_mon += 1;  // timegm normalises month 12
    ASSERT_EQ(UtcNextMonthStartMs(ms), static_cast<int64_t>(timegm(&next)) * 1000) << ms;
  }
}

}  // namespace
}  // namespace cv::auth
