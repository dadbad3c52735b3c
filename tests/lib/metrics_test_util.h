// Reads metric values back from a prometheus::Registry, as a scrape would see them.
//
//   prometheus::Registry registry;
//   ...
//   EXPECT_EQ(CounterValue(registry, "genfarm_x_total", {{"model", "esrgan"}}), 8);
#ifndef GENFARM_TESTS_LIB_METRICS_TEST_UTIL_H_
#define GENFARM_TESTS_LIB_METRICS_TEST_UTIL_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "prometheus/metric_family.h"
#include "prometheus/registry.h"

namespace genfarm::testing {

using LabelMap = std::map<std::string, std::string>;

inline std::optional<prometheus::ClientMetric> FindMetric(const prometheus::Registry& registry,
                                                          const std::string& name,
                                                          const LabelMap& labels) {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      LabelMap have;
      for (const auto& label : metric.label) have[label.name] = label.value;
      if (have == labels) return metric;
    }
  }
  return std::nullopt;
}

// -1 when the series does not exist (distinct from a real 0).
inline double CounterValue(const prometheus::Registry& r, const std::string& name,
                           const LabelMap& labels = {}) {
  auto m = FindMetric(r, name, labels);
  return m ? m->counter.value : -1;
}
inline double GaugeValue(const prometheus::Registry& r, const std::string& name,
                         const LabelMap& labels = {}) {
  auto m = FindMetric(r, name, labels);
  return m ? m->gauge.value : -1;
}
inline double HistogramCount(const prometheus::Registry& r, const std::string& name,
                             const LabelMap& labels = {}) {
  auto m = FindMetric(r, name, labels);
  return m ? static_cast<double>(m->histogram.sample_count) : -1;
}
inline double HistogramSum(const prometheus::Registry& r, const std::string& name,
                           const LabelMap& labels = {}) {
  auto m = FindMetric(r, name, labels);
  return m ? m->histogram.sample_sum : -1;
}
// Cumulative count of observations <= `le` (the bucket with that exact upper bound).
inline double BucketCount(const prometheus::Registry& r, const std::string& name,
                          const LabelMap& labels, double le) {
  auto m = FindMetric(r, name, labels);
  if (!m) return -1;
  for (const auto& bucket : m->histogram.bucket) {
    if (bucket.upper_bound == le) return static_cast<double>(bucket.cumulative_count);
  }
  return -1;
}

// Every label name used by any series in the registry.
inline std::vector<std::string> LabelNames(const prometheus::Registry& registry) {
  std::vector<std::string> out;
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    for (const prometheus::ClientMetric& metric : family.metric) {
      for (const auto& label : metric.label) out.push_back(label.name);
    }
  }
  return out;
}

}  // namespace genfarm::testing

#endif  // GENFARM_TESTS_LIB_METRICS_TEST_UTIL_H_
