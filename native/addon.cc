// Module initialisation, per-environment state and the functions exported to
// lib/binding.ts.
//
// Every environment (the main thread, each worker, each separate load of the
// addon) gets its own AddonState, hung off Node-API instance data; nothing is
// global but the load-time choice of Node-API version (native/runtime.h),
// which is the same for every load in a process. Its life, in order:
//   1. Init creates it and registers an environment cleanup hook.
//   2. `setup` starts the queue (thread-safe function, JS `deliver` and
//      `schedule` functions).
//   3. At environment teardown the hook runs: finalizers stop queueing, the
//      queue drops its contents and releases its thread-safe function, and
//      the references of finalized slots are deleted.
//   4. The runtime then finalizes every reference still alive (our
//      finalizers only mark their slot now) and last calls the instance-data
//      finalizer, which deletes the remaining references and the AddonState.
//
// Argument checks here repeat the TypeScript facade's, cheaply: the binding is
// reachable from JavaScript, so no value passed to it may crash the process.
//
// node-addon-api or raw Node-API: node-addon-api does the plumbing of the
// exported functions (reading arguments, type tests, creating primitive
// return values), none of which can fail for lack of JavaScript. Raw calls
// are used for everything that can (creating functions and errors, reading
// or setting properties, calling into JavaScript): while a worker is being
// terminated such calls fail, and node-addon-api turns a failure whose status
// differs from the one its compile-time NAPI_VERSION expects into a fatal
// error, while the runtime answers by the version this addon declares at load
// (see Init). Raw too where node-addon-api has no wrapper
// (napi_fatal_exception, typed-array info), and in Register, the hot path,
// where Napi::CallbackInfo copies arguments it does not need.
// registry.cc and queue.cc use raw Node-API only: they run in finalizers,
// inside the GC and at teardown. ARCHITECTURE.md states the same rule.
#include <napi.h>

#include "queue.h"
#include "registry.h"
#include "runtime.h"

namespace addcleanup {
namespace {

struct AddonState {
  explicit AddonState(napi_env env) : env(env), registry(&queue), queue(registry) {}
  napi_env env;
  Registry registry;
  Queue queue;
};

AddonState* StateOf(const Napi::CallbackInfo& info) {
  return static_cast<AddonState*>(info.Data());
}

// Throws a JavaScript TypeError or Error with a Node-style `code`, through
// plain Node-API calls whose failures are ignored: while a worker is being
// terminated, creating or throwing an error fails (JavaScript can no longer
// run), and that must never turn into an abort. An exception that is already
// pending (a termination included) is left in place.
Napi::Value Throw(napi_env env, bool type_error, const char* code, const char* message) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) != napi_ok || pending) return Napi::Value();
  napi_value code_value, message_value, error;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_value) != napi_ok ||
      napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &message_value) != napi_ok) {
    return Napi::Value();
  }
  napi_status status = type_error ? napi_create_type_error(env, code_value, message_value, &error)
                                  : napi_create_error(env, code_value, message_value, &error);
  if (status == napi_ok) napi_throw(env, error);
  return Napi::Value();
}

Napi::Value ThrowTypeError(napi_env env, const char* code, const char* message) {
  return Throw(env, true, code, message);
}

Napi::Value ThrowStatus(napi_env env, napi_status status, const char* what) {
  std::string message = std::string("addcleanup: ") + what + " failed (Node-API status " +
                        std::to_string(status) + ")";
  return Throw(env, false, "ERR_ADDCLEANUP_NATIVE", message.c_str());
}

// The page provider given to setup returned something else than a page
// (Registry::EnsurePages says napi_array_expected), at setup or at a register.
Napi::Value ThrowBadPage(napi_env env) {
  return ThrowTypeError(env, "ERR_INVALID_RETURN_VALUE",
                        "newPage must return an Int32Array of 4096 elements over a "
                        "SharedArrayBuffer");
}

// setup(deliver: (slots: Uint32Array, waitedMs: number) => void,
//       newPage?: (index: number) => Int32Array,
//       schedule?: (fn: () => void) => unknown): void
// Once per environment, by lib/core.ts when it loads. With `newPage`, the
// registry keeps the state words that lib/core.ts's stop() reads (see
// native/registry.h); without it, stop() goes through the `stop` binding.
// `schedule` runs a function on a later loop turn (lib/core.ts passes
// node:timers' setImmediate); without it, the global setImmediate as it is
// now, and if there is none, the queue's own wake-up (native/queue.h).
Napi::Value Setup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AddonState* state = StateOf(info);
  if (info.Length() < 1 || !info[0].IsFunction()) {
    return ThrowTypeError(env, "ERR_INVALID_ARG_TYPE",
                          "The \"deliver\" argument must be of type function");
  }
  if (state->queue.started()) {
    return Throw(env, false, "ERR_ADDCLEANUP_ALREADY_SET_UP",
                 "addcleanup: the binding is already set up in this environment");
  }
  const bool with_pages = info.Length() > 1 && !info[1].IsUndefined();
  if (with_pages && !info[1].IsFunction()) {
    return ThrowTypeError(env, "ERR_INVALID_ARG_TYPE",
                          "The \"newPage\" argument must be of type function");
  }
  napi_value schedule = nullptr;
  if (info.Length() > 2 && !info[2].IsUndefined()) {
    if (!info[2].IsFunction()) {
      return ThrowTypeError(env, "ERR_INVALID_ARG_TYPE",
                            "The \"schedule\" argument must be of type function");
    }
    schedule = info[2];
  } else {
    // Raw calls: the lookup may run a getter, and fails while a worker is
    // being terminated; either way the failure must come back as the call's
    // (pending) exception, never as node-addon-api's fatal error.
    napi_value global, global_schedule;
    napi_valuetype type = napi_undefined;
    if (napi_get_global(env, &global) != napi_ok ||
        napi_get_named_property(env, global, "setImmediate", &global_schedule) != napi_ok) {
      return Napi::Value();
    }
    if (napi_typeof(env, global_schedule, &type) == napi_ok && type == napi_function) {
      schedule = global_schedule;
    }
  }
  if (with_pages) {
    napi_status status = state->registry.EnablePages(env, info[1]);
    if (status == napi_array_expected) return ThrowBadPage(env);
    if (status != napi_ok) return ThrowStatus(env, status, "taking the state pages");
  }
  napi_status status = state->queue.Start(env, info[0], schedule);
  if (status != napi_ok) return ThrowStatus(env, status, "starting the queue");
  return env.Undefined();
}

// register(target: object | function): number (the registration id)
// Called once per addCleanup(), so it is written on raw Node-API: no
// Napi::CallbackInfo (which copies up to six arguments and `this`), one
// napi_typeof instead of three type tests.
napi_value Register(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value target = nullptr;
  void* data = nullptr;
  if (napi_get_cb_info(env, info, &argc, &target, nullptr, &data) != napi_ok) return nullptr;
  // Node-API types an External (an object made by another addon with
  // napi_create_external) apart from objects; JavaScript sees an object.
  napi_valuetype type = napi_undefined;
  if (argc < 1 || napi_typeof(env, target, &type) != napi_ok ||
      !(type == napi_object || type == napi_function || type == napi_external)) {
    ThrowTypeError(env, "ERR_INVALID_ARG_TYPE",
                   "The \"ptr\" argument must be of type object or function");
    return nullptr;
  }
  double id;
  const napi_status status = static_cast<AddonState*>(data)->registry.Add(env, target, &id);
  if (status == napi_array_expected) {
    ThrowBadPage(env);
    return nullptr;
  }
  if (status != napi_ok) {
    ThrowStatus(env, status, "registering the object");
    return nullptr;
  }
  napi_value result = nullptr;
  if (napi_create_double(env, id, &result) != napi_ok) {
    // Cannot happen for a number; if it did, the id is lost, so the
    // registration must not stay behind: stop it at once.
    static_cast<AddonState*>(data)->registry.Stop(env, id);
    ThrowStatus(env, napi_generic_failure, "returning the id");
    return nullptr;
  }
  return result;
}

// stop(id: number): boolean
Napi::Value Stop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    return ThrowTypeError(env, "ERR_INVALID_ARG_TYPE",
                          "The \"id\" argument must be of type number");
  }
  const double id = info[0].As<Napi::Number>().DoubleValue();
  return Napi::Boolean::New(env, StateOf(info)->registry.Stop(env, id));
}

// reap(slots: Uint32Array): void
// The slots that lib/core.ts's stop() has stopped through their state words,
// in one call per batch: their references are deleted and the slots reused.
// Any other slot is ignored.
Napi::Value Reap(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  bool is_typedarray = false;
  napi_typedarray_type type = napi_int8_array;
  size_t length = 0;
  void* data = nullptr;
  if (info.Length() < 1 || napi_is_typedarray(env, info[0], &is_typedarray) != napi_ok ||
      !is_typedarray ||
      napi_get_typedarray_info(env, info[0], &type, &length, &data, nullptr, nullptr) != napi_ok ||
      type != napi_uint32_array) {
    return ThrowTypeError(env, "ERR_INVALID_ARG_TYPE",
                          "The \"slots\" argument must be an instance of Uint32Array");
  }
  // A detached or empty array has no data: nothing to reap.
  if (data != nullptr) StateOf(info)->registry.Reap(env, static_cast<uint32_t*>(data), length);
  return info.Env().Undefined();
}

// triggerUncaughtException(error: unknown): void
// Reports a cleanup's exception exactly as Node reports an uncaught one:
// 'uncaughtException' listeners see it, and without one the thread dies
// printing it. It is called from JavaScript (inside `deliver`), where a V8
// context is entered, which Node's uncaught-exception path requires.
Napi::Value TriggerUncaughtException(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  napi_value error = info.Length() > 0 ? static_cast<napi_value>(info[0])
                                       : static_cast<napi_value>(env.Undefined());
  napi_status status = napi_fatal_exception(env, error);
  if (status != napi_ok) return ThrowStatus(env, status, "reporting an exception");
  return env.Undefined();
}

// counts(out?: Float64Array): [pending, queued]
// With a Float64Array of at least two elements, fills it and returns it
// (cleanupStats() reads the counters without allocating); otherwise returns a
// new array.
Napi::Value Counts(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  AddonState* state = StateOf(info);
  const double values[2] = {static_cast<double>(state->registry.pending()),
                            static_cast<double>(state->registry.queued())};
  if (info.Length() > 0 && info[0].IsTypedArray()) {
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;
    if (napi_get_typedarray_info(env, info[0], &type, &length, &data, nullptr, nullptr) !=
            napi_ok ||
        type != napi_float64_array || length < 2 || data == nullptr) {
      return ThrowTypeError(env, "ERR_INVALID_ARG_TYPE",
                            "The \"out\" argument must be a Float64Array of length 2 or more");
    }
    static_cast<double*>(data)[0] = values[0];
    static_cast<double*>(data)[1] = values[1];
    return info[0];
  }
  napi_value result, element;
  if (napi_create_array_with_length(env, 2, &result) != napi_ok) return Napi::Value();
  for (uint32_t i = 0; i < 2; i++) {
    if (napi_create_double(env, values[i], &element) != napi_ok ||
        napi_set_element(env, result, i, element) != napi_ok) {
      return Napi::Value();
    }
  }
  return Napi::Value(env, result);
}

// live(): [slots: number[], targets: object[]]
// Every registration still watching a live object, with that object, for
// checkCleanups(). The objects are returned strongly: the caller drops them.
Napi::Value Live(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  napi_value slots, targets, result;
  if (napi_create_array(env, &slots) != napi_ok || napi_create_array(env, &targets) != napi_ok ||
      napi_create_array_with_length(env, 2, &result) != napi_ok) {
    return Napi::Value();
  }
  napi_status status = StateOf(info)->registry.CollectLive(env, slots, targets);
  if (status != napi_ok) return ThrowStatus(env, status, "listing live registrations");
  if (napi_set_element(env, result, 0, slots) != napi_ok ||
      napi_set_element(env, result, 1, targets) != napi_ok) {
    return Napi::Value();
  }
  return Napi::Value(env, result);
}

void OnEnvironmentTeardown(void* data) {
  AddonState* state = static_cast<AddonState*>(data);
  state->registry.BeginTeardown(state->env);
  state->queue.Close(state->env);
}

void DeleteState(napi_env env, void* data, void* /*hint*/) {
  AddonState* state = static_cast<AddonState*>(data);
  state->registry.DeleteAllReferences(env);
  delete state;
}

// The Node-API callback of a function written against Napi::CallbackInfo
// (whose constructor only reads the call's arguments: it cannot fail for lack
// of JavaScript).
template <Napi::Value (*Fn)(const Napi::CallbackInfo&)>
napi_value WithCallbackInfo(napi_env env, napi_callback_info cbinfo) {
  Napi::CallbackInfo info(env, cbinfo);
  return Fn(info);
}

// The module's initialisation, on raw Node-API: it may run in a worker that
// is being terminated, where creating a function or setting a property fails.
// node-addon-api would turn such a failure into a fatal error whenever the
// status differs from the one it expects for its compile-time NAPI_VERSION
// (napi_pending_exception for 8), while the runtime answers according to the
// version this addon declares at load (napi_cannot_run_js for 10 and the
// experimental one). Here a failure leaves the load failing quietly.
napi_value Init(napi_env env, napi_value exports) {
  AddonState* state = new AddonState(env);
  if (napi_set_instance_data(env, state, DeleteState, nullptr) != napi_ok) {
    delete state;
    ThrowStatus(env, napi_generic_failure, "setting instance data");
    return exports;
  }
  // From here on the state belongs to the environment (instance data).
  // The hook is never removed: it runs once, at teardown, before the
  // instance-data finalizer frees the state it is given.
  if (napi_add_env_cleanup_hook(env, OnEnvironmentTeardown, state) != napi_ok) {
    ThrowStatus(env, napi_generic_failure, "adding the cleanup hook");
    return exports;
  }
  static constexpr struct {
    const char* name;
    napi_callback callback;
  } kFunctions[] = {
      {"setup", WithCallbackInfo<Setup>},
      {"register", Register},
      {"stop", WithCallbackInfo<Stop>},
      {"reap", WithCallbackInfo<Reap>},
      {"triggerUncaughtException", WithCallbackInfo<TriggerUncaughtException>},
      {"counts", WithCallbackInfo<Counts>},
      {"live", WithCallbackInfo<Live>},
  };
  for (const auto& function : kFunctions) {
    napi_value value;
    if (napi_create_function(env, function.name, NAPI_AUTO_LENGTH, function.callback, state,
                             &value) != napi_ok ||
        napi_set_named_property(env, exports, function.name, value) != napi_ok) {
      ThrowStatus(env, napi_generic_failure, "exporting the binding's functions");
      return exports;
    }
  }
  // Whether this load's finalizers run inside the GC (native/runtime.h).
  napi_value in_gc;
  if (napi_get_boolean(env, FinalizersRunInGc(), &in_gc) != napi_ok ||
      napi_set_named_property(env, exports, "finalizersInGc", in_gc) != napi_ok) {
    ThrowStatus(env, napi_generic_failure, "exporting finalizersInGc");
  }
  return exports;
}

}  // namespace
}  // namespace addcleanup

// The module's two entry points, spelled out instead of NODE_API_MODULE:
// that macro also defines node_api_module_get_api_version_v1 returning the
// compile-time NAPI_VERSION, and this addon chooses its version at load
// (native/runtime.h). The runtime calls the version function first.
EXTERN_C_START
NAPI_MODULE_EXPORT int32_t NODE_API_MODULE_GET_API_VERSION(void) {
  return addcleanup::ChooseModuleApiVersion();
}

NAPI_MODULE_EXPORT napi_value NAPI_MODULE_INITIALIZER(napi_env env, napi_value exports) {
  return addcleanup::Init(env, exports);
}
EXTERN_C_END
