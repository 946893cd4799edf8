// Internal invariants of the addon's own bookkeeping, checked in Debug builds
// (binding.gyp defines ADDCLEANUP_DEBUG there). Nothing a caller passes reaches
// one of these unchecked: bad input is refused with a JavaScript exception
// before it gets this far.
#ifndef ADDCLEANUP_CHECKS_H_
#define ADDCLEANUP_CHECKS_H_

#include <cstdio>
#include <cstdlib>

#ifdef ADDCLEANUP_DEBUG
#define ADDCLEANUP_ASSERT(expr)                                                             \
  do {                                                                                      \
    if (!(expr)) {                                                                          \
      std::fprintf(stderr, "addcleanup: %s:%d: assertion failed: %s\n", __FILE__, __LINE__, \
                   #expr);                                                                  \
      std::abort();                                                                         \
    }                                                                                       \
  } while (0)
#else
#define ADDCLEANUP_ASSERT(expr) ((void)0)
#endif

#endif  // ADDCLEANUP_CHECKS_H_
