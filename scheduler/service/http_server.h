// Moved to common/http/http_server.h (the worker serves /metrics too); this header
// stays so existing includes keep compiling.
#ifndef GENFARM_SCHEDULER_SERVICE_HTTP_SERVER_H_
#define GENFARM_SCHEDULER_SERVICE_HTTP_SERVER_H_

#include "common/http/http_server.h"

#endif  // GENFARM_SCHEDULER_SERVICE_HTTP_SERVER_H_
