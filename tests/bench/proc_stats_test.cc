// /proc/PID/stat and /proc/PID/status parsing from sample text, and the live probe on ourselves.
#include "tests/bench/cvbench/proc_stats.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace cv::bench {
namespace {

// A real line from a cvrelay (fields after stime trimmed), and one whose comm has spaces and
// parentheses.
constexpr char kStat[] =
    "4242 (cvrelay) S 1 4242 4242 0 -1 4194560 1234 0 0 0 1500 250 0 0 20 0 3 0 100 "
    "123456789 2000 18446744073709551615\n";
constexpr char kTrickyStat[] = "77 (a) b (c) R 1 77 77 0 -1 0 0 0 0 0 42 7 0 0 20 0 1 0\n";

TEST(CvbenchProcStatsTest, ParsesUserAndSystemTicks) {
  auto t = ParseProcStat(kStat);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->user, 1500u);
  EXPECT_EQ(t->system, 250u);
}

TEST(CvbenchProcStatsTest, CountsFieldsAfterTheLastParenthesis) {
  auto t = ParseProcStat(kTrickyStat);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->user, 42u);
  EXPECT_EQ(t->system, 7u);
}

TEST(CvbenchProcStatsTest, RefusesTruncatedOrGarbledStat) {
  EXPECT_FALSE(ParseProcStat(""));
  EXPECT_FALSE(ParseProcStat("4242 (cvrelay) S 1 2 3"));
  EXPECT_FALSE(ParseProcStat("4242 (cvrelay) S 1 4242 4242 0 -1 4194560 1234 0 0 0 x 250 0"));
  EXPECT_FALSE(ParseProcStat("no parentheses 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15"));
}

TEST(CvbenchProcStatsTest, ParsesVmRss) {
  constexpr char kStatus[] =
      "Name:\tcvrelay\nVmPeak:\t  300000 kB\nVmRSS:\t   12345 kB\nRssAnon:\t 8000 kB\n";
  EXPECT_EQ(ParseVmRssBytes(kStatus), 12345u * 1024);
}

TEST(CvbenchProcStatsTest, MissingOrMalformedVmRssIsNullopt) {
  EXPECT_FALSE(ParseVmRssBytes("Name:\tkthreadd\nState:\tS\n"));
  EXPECT_FALSE(ParseVmRssBytes("VmRSS:\t  12x kB\n"));
  EXPECT_FALSE(ParseVmRssBytes("VmRSS:\t  12 MB\n"));
  EXPECT_FALSE(ParseVmRssBytes("VmRSS:\n"));
}

TEST(CvbenchProcStatsTest, ProbesALiveProcess) {
  ProcessProbe self(getpid());
  EXPECT_TRUE(self.CpuSeconds());
  auto rss = self.RssBytes();
  ASSERT_TRUE(rss);
  EXPECT_GT(*rss, 0u);
  EXPECT_FALSE(ProcessProbe(0x3FFFFFFF).CpuSeconds()) << "no such pid";
  EXPECT_GE(SelfCpuSeconds(), 0.0);
}

}  // namespace
}  // namespace cv::bench
