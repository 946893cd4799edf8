// What the running runtime offers beyond stable Node-API, decided once when
// the addon is loaded.
//
// Node-API modules built for a stable version (8 here) have every finalizer
// deferred: Node queues it and runs all of a collection's finalizers later,
// in one native immediate, unbudgeted (about 150 ms of loop block per 10^6
// dead objects, before any code of ours runs). A module that declares the
// experimental Node-API version instead has its finalizers called directly
// from the garbage collector, where they may touch native memory only. Our
// finalizer does only that (native/registry.cc), so the addon declares the
// experimental version where the runtime is Node itself (it exports
// node::Start) and has that behaviour, which is exactly where it exports
// node_api_post_finalizer (the escape hatch that came with it: Node 20.10+,
// 21+). Elsewhere (older Node, Bun, Deno) it declares version 8 and its
// finalizers are deferred; the code is the same in both modes.
#ifndef ADDCLEANUP_RUNTIME_H_
#define ADDCLEANUP_RUNTIME_H_

#include <cstdint>

namespace addcleanup {

// The Node-API version this module declares to the runtime: the
// experimental one when finalizers can run inside the GC, 8 otherwise.
// ADDCLEANUP_DEFERRED_FINALIZERS=1 in the environment forces 8 (tests and
// benchmarks of the fallback path).
int32_t ChooseModuleApiVersion();

// True when the runtime was told (by ChooseModuleApiVersion) to call our
// finalizers inside the garbage collector.
bool FinalizersRunInGc();

}  // namespace addcleanup

#endif  // ADDCLEANUP_RUNTIME_H_
