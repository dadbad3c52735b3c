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

// Moves `counter` up to `total`, remembering it in `seen`.
void Advance(prometheus::Counter& counter, int64_t total, int64_t& seen) {
  if (total > seen) {
    counter.Increment(static_cast<double>(total - seen));
    seen = total;
  }
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
  Advance(accepted_, counts.accepted, seen_.accepted);
  Advance(served_, counts.served, seen_.served);
  Advance(request_timeouts_, counts.request_timeouts, seen_.request_timeouts);
  Advance(write_timeouts_, counts.write_timeouts, seen_.write_timeouts);
  Advance(refused_, counts.refused, seen_.refused);
  Advance(evicted_, counts.evicted, seen_.evicted);
}

}  // namespace genfarm
