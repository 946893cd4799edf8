#include "runtime.h"

#include <node_api.h>

#include <cstdlib>
#include <cstring>

#ifdef _WIN32
#include <windows.h>
#else
#include <dlfcn.h>
#endif

namespace addcleanup {
namespace {

// Set once, while the runtime loads the module (before any environment of
// this process can use it); every later load of the same file in this
// process makes the same choice, so all instances agree.
bool g_finalizers_in_gc = false;

// Whether the process (the runtime's executable and what it has loaded)
// exports `name`. Looked up, never linked: a runtime without it must still
// load the addon.
bool ProcessExports(const char* name) {
#ifdef _WIN32
  return GetProcAddress(GetModuleHandleW(nullptr), name) != nullptr;
#else
  return dlsym(RTLD_DEFAULT, name) != nullptr;
#endif
}

// node::Start(int, char**): exported by Node itself (and by embedders built
// on it), not by runtimes that implement Node-API on their own. Bun 1.4
// exports node_api_post_finalizer too, but what its experimental mode does
// with finalizers is its own: there the stable version is declared.
#ifdef _WIN32
// MSVC's name: argv is char* [] (a const pointer, Q), as node.exe exports it.
constexpr const char* kNodeStart = "?Start@node@@YAHHQEAPEAD@Z";
#else
constexpr const char* kNodeStart = "_ZN4node5StartEiPPc";
#endif

// ADDCLEANUP_DEFERRED_FINALIZERS=1, as the process's environment has it now:
// a program may set it through process.env before it loads the package. On
// Windows the C runtime's getenv() reads a copy taken at start, which such an
// assignment (SetEnvironmentVariableW, through libuv) does not update;
// GetEnvironmentVariableA reads the process's own environment.
bool ForcedDeferred() {
  constexpr const char* kName = "ADDCLEANUP_DEFERRED_FINALIZERS";
#ifdef _WIN32
  char value[2];
  return GetEnvironmentVariableA(kName, value, sizeof(value)) == 1 && value[0] == '1';
#else
  const char* value = std::getenv(kName);
  return value != nullptr && std::strcmp(value, "1") == 0;
#endif
}

}  // namespace

int32_t ChooseModuleApiVersion() {
  g_finalizers_in_gc =
      !ForcedDeferred() && ProcessExports("node_api_post_finalizer") && ProcessExports(kNodeStart);
  return g_finalizers_in_gc ? NAPI_VERSION_EXPERIMENTAL : 8;
}

bool FinalizersRunInGc() { return g_finalizers_in_gc; }

}  // namespace addcleanup
