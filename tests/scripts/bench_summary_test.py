"""scripts/bench_summary.py: medians, per-pair ratios, targets and the latency rates."""

import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts"))
import bench_summary  # noqa: E402


def write(directory, phase, pair, server, figures):
    with open(os.path.join(directory, f"{phase}-{pair}-{server}.json"), "w") as f:
        json.dump({"label": server, "phases": {phase: figures}}, f)


class BenchSummaryTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def row(self, key, phase):
        figure = [f for f in bench_summary.FIGURES if f.key == key and f.phase == phase][0]
        return bench_summary.summarise(figure, bench_summary.load_runs(self.dir))

    def test_medians_and_ratios_are_per_pair(self):
        # coturn 10, 20, 30; cvrelay 2, 5, 3: ratios 0.2, 0.25, 0.1.
        for pair, (c, v) in enumerate([(10, 2), (20, 5), (30, 3)], start=1):
            write(self.dir, "efficiency", pair, "coturn", {"server_cpu_us_per_packet": c})
            write(self.dir, "efficiency", pair, "cvrelay", {"server_cpu_us_per_packet": v})
        row = self.row("server_cpu_us_per_packet", "efficiency")
        self.assertEqual(row["coturn"], 20)
        self.assertEqual(row["cvrelay"], 3)
        self.assertAlmostEqual(row["ratio"], 0.2)
        self.assertAlmostEqual(row["ratio_min"], 0.1)
        self.assertAlmostEqual(row["ratio_max"], 0.25)
        self.assertEqual(row["pairs"], 3)
        self.assertTrue(row["met"])  # 0.2 <= 1/2.5

    def test_a_higher_is_better_target_not_met_says_so(self):
        write(self.dir, "capacity", 1, "coturn", {"capacity_pps": 100000})
        write(self.dir, "capacity", 1, "cvrelay", {"capacity_pps": 150000})
        row = self.row("capacity_pps", "capacity")
        self.assertAlmostEqual(row["ratio"], 1.5)
        self.assertFalse(row["met"])
        self.assertIn("**no**", bench_summary.table(self.dir))

    def test_a_pair_missing_a_server_gives_no_ratio_for_that_pair(self):
        write(self.dir, "churn", 1, "coturn", {"allocations_per_s": 100})
        write(self.dir, "churn", 1, "cvrelay", {"allocations_per_s": 800})
        write(self.dir, "churn", 2, "coturn", {"allocations_per_s": 120})
        row = self.row("allocations_per_s", "churn")
        self.assertEqual(row["pairs"], 1)
        self.assertEqual(row["coturn"], 110)
        self.assertAlmostEqual(row["ratio"], 8.0)

    def test_zero_coturn_value_gives_no_ratio(self):
        write(self.dir, "bursts", 1, "coturn", {"loss_ratio": 0.0})
        write(self.dir, "bursts", 1, "cvrelay", {"loss_ratio": 0.0})
        row = self.row("loss_ratio", "bursts")
        self.assertIsNone(row["ratio"])
        self.assertTrue(row["met"])  # cvrelay's own loss is the target: 0

    def test_latency_rows_read_the_rate_entries(self):
        rates = [{"rate_pps": r, "added_p99_us": a} for r, a in [(100, 1), (200, 2), (300, 30)]]
        write(self.dir, "latency", 1, "coturn", {"runs": rates})
        rates = [{"rate_pps": r, "added_p99_us": a} for r, a in [(100, 1), (200, 1), (300, 3)]]
        write(self.dir, "latency", 1, "cvrelay", {"runs": rates})
        figure = [f for f in bench_summary.FIGURES
                  if f.key == "added_p99_us" and f.rate_index == 2][0]
        row = bench_summary.summarise(figure, bench_summary.load_runs(self.dir))
        self.assertAlmostEqual(row["ratio"], 0.1)
        self.assertTrue(row["met"])

    def test_latency_rates_are_fractions_of_coturns_median_capacity(self):
        for pair, c in enumerate([100000, 120000, 90000], start=1):
            write(self.dir, "capacity", pair, "coturn", {"capacity_pps": c})
        self.assertEqual(bench_summary.latency_rates(self.dir, "0.5,0.8"), "50000,80000")

    def test_without_coturn_capacity_latency_rates_fail_clearly(self):
        with self.assertRaises(SystemExit) as e:
            bench_summary.latency_rates(self.dir, "0.5")
        self.assertIn("no coturn capacity", str(e.exception))

    def test_non_finite_and_missing_values_are_skipped(self):
        write(self.dir, "binding", 1, "coturn", {"binding_per_s": None})
        write(self.dir, "binding", 1, "cvrelay", {"binding_per_s": 5000})
        row = self.row("binding_per_s", "binding")
        self.assertIsNone(row["coturn"])
        self.assertEqual(row["cvrelay"], 5000)
        self.assertIsNone(row["ratio"])


if __name__ == "__main__":
    unittest.main()
