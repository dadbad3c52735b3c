// HttpMetrics: the front's totals become Prometheus counters that grow by what is new at each
// Refresh, under the daemon's prefix. Fed with made-up totals; the daemons' wiring is checked
// against a real scheduler in tests/integration/test_bad_input.py (test_5).
#include "common/http/http_metrics.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"

namespace genfarm {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string Scrape(const prometheus::Registry& registry) {
  return prometheus::TextSerializer().Serialize(registry.Collect());
}

TEST(HttpMetricsTest, CountersFollowTheFrontsTotals) {
  prometheus::Registry registry;
  HttpMetrics metrics(registry, "genfarm_test");
  HttpFrontCounts counts;
  counts.accepted = 7;
  counts.served = 5;
  counts.refused = 2;
  metrics.Refresh(counts, 3);
  std::string text = Scrape(registry);
  EXPECT_THAT(text, HasSubstr("genfarm_test_http_connections_open 3\n"));
  EXPECT_THAT(text, HasSubstr("genfarm_test_http_connections_accepted_total 7\n"));
  EXPECT_THAT(text, HasSubstr("genfarm_test_http_requests_served_total 5\n"));
  EXPECT_THAT(text,
              HasSubstr("genfarm_test_http_connections_dropped_total{reason=\"refused\"} 2\n"));
  EXPECT_THAT(text,
              HasSubstr("genfarm_test_http_connections_dropped_total{reason=\"evicted\"} 0\n"));

  // A second scrape adds only what is new, whatever the order of the fields.
  counts.accepted = 10;
  counts.request_timeouts = 1;
  counts.write_timeouts = 4;
  counts.evicted = 6;
  metrics.Refresh(counts, 0);
  metrics.Refresh(counts, 0);  // nothing new: nothing added
  text = Scrape(registry);
  EXPECT_THAT(text, HasSubstr("genfarm_test_http_connections_open 0\n"));
  EXPECT_THAT(text, HasSubstr("genfarm_test_http_connections_accepted_total 10\n"));
  EXPECT_THAT(text, HasSubstr("genfarm_test_http_requests_served_total 5\n"));
  EXPECT_THAT(
      text,
      HasSubstr("genfarm_test_http_connections_dropped_total{reason=\"request_timeout\"} 1\n"));
  EXPECT_THAT(
      text, HasSubstr("genfarm_test_http_connections_dropped_total{reason=\"write_timeout\"} 4\n"));
  EXPECT_THAT(text,
              HasSubstr("genfarm_test_http_connections_dropped_total{reason=\"evicted\"} 6\n"));
}

TEST(HttpMetricsTest, ACounterNeverGoesDown) {
  prometheus::Registry registry;
  HttpMetrics metrics(registry, "genfarm_test");
  HttpFrontCounts counts;
  counts.served = 9;
  metrics.Refresh(counts, 1);
  counts.served = 4;  // totals do not shrink; if one did, the counter would hold
  metrics.Refresh(counts, 1);
  const std::string text = Scrape(registry);
  EXPECT_THAT(text, HasSubstr("genfarm_test_http_requests_served_total 9\n"));
  EXPECT_THAT(text, Not(HasSubstr("genfarm_test_http_requests_served_total 4\n")));
}

TEST(HttpMetricsTest, TwoDaemonsPrefixesStayApart) {
  prometheus::Registry registry;
  HttpMetrics scheduler(registry, "genfarm_scheduler");
  HttpMetrics worker(registry, "genfarm_worker");
  HttpFrontCounts counts;
  counts.accepted = 2;
  scheduler.Refresh(counts, 0);
  const std::string text = Scrape(registry);
  EXPECT_THAT(text, HasSubstr("genfarm_scheduler_http_connections_accepted_total 2\n"));
  EXPECT_THAT(text, HasSubstr("genfarm_worker_http_connections_accepted_total 0\n"));
}

}  // namespace
}  // namespace genfarm
