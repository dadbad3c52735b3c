#include "common/clock.h"

namespace genfarm {

RealClock& RealClock::Get() {
  static RealClock* clock = new RealClock();
  return *clock;
}

}  // namespace genfarm
