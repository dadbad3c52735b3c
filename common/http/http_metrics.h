// HttpMetrics: what a daemon's HTTP port (HttpServer and its ConnectionFront) has had to
// deal with, as Prometheus metrics under the daemon's prefix:
//
//   <prefix>_http_connections_open           gauge    connections held right now
//   <prefix>_http_connections_accepted_total counter
//   <prefix>_http_requests_served_total      counter  requests handed to a handler
//   <prefix>_http_connections_dropped_total  counter  closed by the server, by `reason`:
//       request_timeout (408: the request was not complete in time), write_timeout (the
//       response was not taken in time), refused (400, 411, 413, 431 before any handler),
//       evicted (at max_connections)
//
// A slow-loris or flooding client shows here, not only in the log. The front keeps its own
// totals (HttpFrontCounts); Refresh() brings the counters up to them, normally in the
// /metrics handler right before the registry is serialised:
//
//   HttpMetrics http_metrics(registry, "genfarm_worker");
//   http.server().Get("/metrics", [&](auto&, auto& res) {
//     http_metrics.Refresh(http.counts(), http.open_connections());
//     res.set_content(prometheus::TextSerializer().Serialize(registry.Collect()), ...);
//   });
//
// Ownership: registers its families in the borrowed registry, which must outlive it.
// Thread-safe: handlers run on several threads, so Refresh() serialises on a mutex.
#ifndef GENFARM_COMMON_HTTP_HTTP_METRICS_H_
#define GENFARM_COMMON_HTTP_HTTP_METRICS_H_

#include <string_view>

#include "absl/synchronization/mutex.h"
#include "common/http/connection_front.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace genfarm {

class HttpMetrics {
 public:
  // `prefix`: the daemon's metric prefix, "genfarm_scheduler" or "genfarm_worker".
  HttpMetrics(prometheus::Registry& registry, std::string_view prefix);

  // `counts` are the front's totals since it started: each counter grows by what is new
  // since the last call (totals never go down; a smaller one is taken as no change).
  void Refresh(const HttpFrontCounts& counts, int open_connections);

 private:
  prometheus::Gauge& open_;
  prometheus::Counter& accepted_;
  prometheus::Counter& served_;
  prometheus::Family<prometheus::Counter>& dropped_;
  prometheus::Counter& request_timeouts_;
  prometheus::Counter& write_timeouts_;
  prometheus::Counter& refused_;
  prometheus::Counter& evicted_;
  absl::Mutex mu_;  // a Refresh() reads each counter, then increments it
};

}  // namespace genfarm

#endif  // GENFARM_COMMON_HTTP_HTTP_METRICS_H_
