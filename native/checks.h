// Internal invariants of the addon's own bookkeeping, checked in Debug builds
// (binding.gyp defines ADDCLEANUP_DEBUG there). Nothing a caller passes reaches
// one of these unchecked: bad input is refused with a JavaScript exception
// before it gets this far.
#ifndef ADDCLEANUP_CHECKS_H_
#define ADDCLEANUP_CHECKS_H_

#include <node_api.h>

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

namespace addcleanup {

// napi_delete_reference fails only for a null env or reference
// (napi_invalid_arg), which this addon's bookkeeping never passes, and a
// failure would leave nothing to undo: Debug builds assert, Release builds go
// on. It never runs inside the GC (finalizers leave deletion to the loop).
inline void DeleteReference(napi_env env, napi_ref ref) {
  const napi_status status = napi_delete_reference(env, ref);
  ADDCLEANUP_ASSERT(status == napi_ok);
  static_cast<void>(status);
}

}  // namespace addcleanup

#endif  // ADDCLEANUP_CHECKS_H_
