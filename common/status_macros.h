// Status propagation macros. Debian's Abseil (20220623) ships none, so they live here once.
//
//   absl::StatusOr<Spec> Load(const std::string& path) {
//     GENFARM_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
//     GENFARM_RETURN_IF_ERROR(Validate(text));
//     return Parse(text);
//   }
#ifndef GENFARM_COMMON_STATUS_MACROS_H_
#define GENFARM_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define GENFARM_STATUS_CONCAT_INNER_(x, y) x##y
#define GENFARM_STATUS_CONCAT_(x, y) GENFARM_STATUS_CONCAT_INNER_(x, y)

#define GENFARM_RETURN_IF_ERROR(expr)                  \
  do {                                                 \
    ::absl::Status genfarm_status_ = (expr);           \
    if (!genfarm_status_.ok()) return genfarm_status_; \
  } while (0)

#define GENFARM_ASSIGN_OR_RETURN(lhs, expr) \
  GENFARM_ASSIGN_OR_RETURN_IMPL_(GENFARM_STATUS_CONCAT_(genfarm_statusor_, __LINE__), lhs, expr)

#define GENFARM_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                   \
  if (!statusor.ok()) return std::move(statusor).status();  \
  lhs = std::move(statusor).value()

#endif  // GENFARM_COMMON_STATUS_MACROS_H_
