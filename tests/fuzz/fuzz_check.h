// FUZZ_CHECK: a property every input must satisfy. On failure it prints the condition and
// aborts, which libFuzzer reports as a crash and saves the input (so a property violation
// is found and kept exactly like a memory error).
//
//   FUZZ_CHECK(FrameSet::Parse(set->ToString()).ok());
#ifndef GENFARM_TESTS_FUZZ_FUZZ_CHECK_H_
#define GENFARM_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

#endif  // GENFARM_TESTS_FUZZ_FUZZ_CHECK_H_
