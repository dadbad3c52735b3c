#include "common/http/http_metrics.h"

#include <cstdint>
#include <string>

namespace genfarm {
namespace {

prometheus::Family<prometheus::Counter>& CounterFamily(prometheus::Registry& registry,
                                                       std::string_view prefix,
                                                       std::string_view name,
                                                       const std::string& help) {
  return prometheus::BuildCounter()
      .Name(std::string(prefix) + std::string(name))
      .Help(help)
      .Register(registry);
}

// Moves `counter` up to `total`. Only Refresh() increments these counters, so the counter's
// value is what it has seen of the front's total (exact in a double up to 2^53).
void Advance(prometheus::Counter& counter, int64_t total) {
  const double behind = static_cast<double>(total) - counter.Value();
  if (behind > 0) counter.Increment(behind);
}

}  // namespace

HttpMetrics::HttpMetrics(prometheus::Registry& registry, std::string_view prefix)
    : open_(prometheus::BuildGauge()
                .Name(std::string(prefix) + "_http_connections_open")
                .Help("HTTP connections held right now (reading, waiting for a handler, "
                      "writing or idle between keep-alive requests).")
                .Register(registry)
                .Add({})),
      accepted_(CounterFamily(registry, prefix, "_http_connections_accepted_total",
                              "HTTP connections accepted.")
                    .Add({})),
      served_(CounterFamily(registry, prefix, "_http_requests_served_total",
                            "HTTP requests handed to a handler.")
                  .Add({})),
      dropped_(CounterFamily(registry, prefix, "_http_connections_dropped_total",
                             "HTTP connections the server closed: request_timeout (408), "
                             "write_timeout, refused (400, 411, 413, 431) or evicted (at the "
                             "connection cap).")),
      request_timeouts_(dropped_.Add({{"reason", "request_timeout"}})),
      write_timeouts_(dropped_.Add({{"reason", "write_timeout"}})),
      refused_(dropped_.Add({{"reason", "refused"}})),
      evicted_(dropped_.Add({{"reason", "evicted"}})) {}

void HttpMetrics::Refresh(const HttpFrontCounts& counts, int open_connections) {
  absl::MutexLock lock(&mu_);
  open_.Set(open_connections);
  Advance(accepted_, counts.accepted);
  Advance(served_, counts.served);
  Advance(request_timeouts_, counts.request_timeouts);
  Advance(write_timeouts_, counts.write_timeouts);
  Advance(refused_, counts.refused);
  Advance(evicted_, counts.evicted);
}

}  // namespace genfarm
