/*
 * A test-only addon that owns JavaScript objects the way real addons do, so
 * that test/other-addons.test.js can check that addcleanup neither disturbs
 * them nor is disturbed by them:
 *
 *   new Wrapped(value)      an instance napi_wrap'ped with a native struct and
 *                           a finalizer (the usual ObjectWrap pattern)
 *   wrap(obj, value)        napi_wrap an existing object (plain, frozen, ...)
 *   unwrapValue(obj)        napi_unwrap: the wrapped struct's value
 *   removeWrap(obj)         napi_remove_wrap: the value; the wrap finalizer
 *                           is cancelled (the struct is freed here)
 *   addFinalizer(obj, tag)  napi_add_finalizer: an extra finalizer of this
 *                           addon's own on any object (any number of them)
 *   createExternal(tag)     napi_create_external with a finalizer
 *   externalValue(ext)      napi_get_value_external: the external's tag
 *   watch(obj)              napi_add_finalizer with a finalizer that only
 *                           counts, its reference kept (not deleted) until
 *                           releaseWatched(): the least a Node-API finalizer
 *                           can cost: the bench's napi-ref floor
 *                           (bench/impls.js; not used by tests)
 *   watchedCount()          how many watch() finalizers ran
 *   finalizersInGc          whether this load's finalizers run inside the GC
 *   releaseWatched()        deletes every reference watch() made
 *   counts()                { wrap, extra, external }: finalizer calls so far
 *   finalized()             { wrap, extra, external }: the tags (the wrapped
 *                           value for wraps) of every finalizer call so far,
 *                           in call order, so that tests can check that each
 *                           object's finalizers ran exactly once
 *
 * Every finalizer only records its call in per-environment state (instance
 * data) and frees its struct: Node-API finalizers must not call JavaScript.
 * That is also what lets them run inside the garbage collector.
 * Bad arguments throw a TypeError; nothing here may crash the process.
 *
 * The Node-API version it declares (so when its finalizers run) is chosen at
 * load. By default it is 8, the stable version: the runtime defers every
 * finalizer to one native immediate after the collection, as it does for
 * most addons. With ADDCLEANUP_TEST_ADDON_FINALIZERS_IN_GC=1 in the
 * environment (bench/impls.js sets it for the napi-ref floor) it makes the
 * choice addcleanup's own addon makes (native/runtime.cc): the experimental
 * version, whose finalizers Node calls inside the GC, where the runtime is
 * Node itself and offers that (it exports node::Start and
 * node_api_post_finalizer), unless ADDCLEANUP_DEFERRED_FINALIZERS=1 forces
 * the deferred mode on both.
 */
#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#include <windows.h>
#else
#include <dlfcn.h>
#endif

enum Kind { KIND_WRAP = 0, KIND_EXTRA = 1, KIND_EXTERNAL = 2, KIND_COUNT = 3 };
static const char* const kKindNames[KIND_COUNT] = {"wrap", "extra", "external"};

typedef struct {
  double* tags;
  size_t length;
  size_t capacity;
} Log;

typedef struct {
  Log logs[KIND_COUNT];
  napi_ref* watched; /* watch(): references, deleted by releaseWatched() */
  size_t watched_length;
  size_t watched_capacity;
  double watched_finalized;
} State;

/* The native struct behind a wrap, an extra finalizer or an external. */
typedef struct {
  double value;
} Payload;

#define CHECK(env, call)                                              \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      bool pending_ = false;                                          \
      napi_is_exception_pending((env), &pending_);                    \
      if (!pending_) napi_throw_error((env), NULL, "test_addon: " #call " failed"); \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

static State* GetState(napi_env env) {
  void* data = NULL;
  if (napi_get_instance_data(env, &data) != napi_ok) return NULL;
  return (State*)data;
}

/* Makes room for one more element in a growable array (doubling). */
static void* Reserve(void* items, size_t length, size_t* capacity, size_t size, size_t first) {
  if (length < *capacity) return items;
  size_t grown_capacity = *capacity ? *capacity * 2 : first;
  void* grown = realloc(items, grown_capacity * size);
  if (grown == NULL) abort();
  *capacity = grown_capacity;
  return grown;
}

static void Record(napi_env env, enum Kind kind, double tag) {
  State* state = GetState(env);
  if (state == NULL) return; /* instance data already gone: nothing to log */
  Log* log = &state->logs[kind];
  log->tags = (double*)Reserve(log->tags, log->length, &log->capacity, sizeof(double), 64);
  log->tags[log->length++] = tag;
}

static Payload* NewPayload(double value) {
  Payload* payload = (Payload*)malloc(sizeof(Payload));
  if (payload == NULL) abort();
  payload->value = value;
  return payload;
}

/* The finalizer of every payload: the hint is its enum Kind. */
static void FinalizePayload(napi_env env, void* data, void* hint) {
  Payload* payload = (Payload*)data;
  Record(env, (enum Kind)(intptr_t)hint, payload->value);
  free(payload);
}

#define KIND_HINT(kind) ((void*)(intptr_t)(kind))

static void DeleteState(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  State* state = (State*)data;
  for (int i = 0; i < KIND_COUNT; i++) free(state->logs[i].tags);
  free(state->watched); /* the references themselves: see releaseWatched() */
  free(state);
}

/* Reads argument `index` as a number, or throws a TypeError. */
static bool GetNumberArg(napi_env env, size_t argc, napi_value* argv, size_t index,
                         const char* name, double* out) {
  napi_valuetype type = napi_undefined;
  if (index < argc && napi_typeof(env, argv[index], &type) == napi_ok &&
      type == napi_number && napi_get_value_double(env, argv[index], out) == napi_ok) {
    return true;
  }
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", name);
  return false;
}

static bool GetObjectArg(napi_env env, size_t argc, napi_value* argv, size_t index,
                         const char* name) {
  napi_valuetype type = napi_undefined;
  if (index < argc && napi_typeof(env, argv[index], &type) == napi_ok &&
      (type == napi_object || type == napi_function || type == napi_external)) {
    return true;
  }
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", name);
  return false;
}

static napi_value DoWrap(napi_env env, napi_value object, double value) {
  Payload* payload = NewPayload(value);
  if (napi_wrap(env, object, payload, FinalizePayload, KIND_HINT(KIND_WRAP), NULL) != napi_ok) {
    free(payload);
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (!pending) napi_throw_error(env, NULL, "test_addon: napi_wrap failed (already wrapped?)");
    return NULL;
  }
  return object;
}

/* new Wrapped(value) */
static napi_value WrappedConstructor(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], self, target;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  CHECK(env, napi_get_new_target(env, info, &target));
  if (target == NULL) {
    napi_throw_type_error(env, NULL, "Class constructor Wrapped cannot be invoked without 'new'");
    return NULL;
  }
  double value;
  if (!GetNumberArg(env, argc, argv, 0, "value must be a number", &value)) return NULL;
  return DoWrap(env, self, value);
}

/* wrap(obj, value): obj */
static napi_value Wrap(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  double value;
  if (!GetObjectArg(env, argc, argv, 0, "obj must be an object")) return NULL;
  if (!GetNumberArg(env, argc, argv, 1, "value must be a number", &value)) return NULL;
  return DoWrap(env, argv[0], value);
}

/* unwrapValue(obj): number */
static napi_value UnwrapValue(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!GetObjectArg(env, argc, argv, 0, "obj must be an object")) return NULL;
  void* data = NULL;
  CHECK(env, napi_unwrap(env, argv[0], &data));
  CHECK(env, napi_create_double(env, ((Payload*)data)->value, &result));
  return result;
}

/* removeWrap(obj): number (the value; the wrap finalizer will not run) */
static napi_value RemoveWrap(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!GetObjectArg(env, argc, argv, 0, "obj must be an object")) return NULL;
  void* data = NULL;
  CHECK(env, napi_remove_wrap(env, argv[0], &data));
  Payload* payload = (Payload*)data;
  napi_status status = napi_create_double(env, payload->value, &result);
  free(payload);
  CHECK(env, status);
  return result;
}

/* addFinalizer(obj, tag): undefined */
static napi_value AddFinalizer(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  double tag;
  if (!GetObjectArg(env, argc, argv, 0, "obj must be an object")) return NULL;
  if (!GetNumberArg(env, argc, argv, 1, "tag must be a number", &tag)) return NULL;
  Payload* payload = NewPayload(tag);
  /* No result reference: Node owns the finalizer's reference and deletes it. */
  if (napi_add_finalizer(env, argv[0], payload, FinalizePayload, KIND_HINT(KIND_EXTRA), NULL) != napi_ok) {
    free(payload);
    napi_throw_error(env, NULL, "test_addon: napi_add_finalizer failed");
    return NULL;
  }
  return NULL;
}

static void FinalizeWatched(napi_env env, void* data, void* hint) {
  (void)data;
  (void)hint;
  State* state = GetState(env);
  if (state != NULL) state->watched_finalized++;
}

/* watch(obj): undefined */
static napi_value Watch(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!GetObjectArg(env, argc, argv, 0, "obj must be an object")) return NULL;
  State* state = GetState(env);
  state->watched = (napi_ref*)Reserve(state->watched, state->watched_length,
                                      &state->watched_capacity, sizeof(napi_ref), 1024);
  napi_ref ref;
  CHECK(env, napi_add_finalizer(env, argv[0], NULL, FinalizeWatched, NULL, &ref));
  state->watched[state->watched_length++] = ref;
  return NULL;
}

/* watchedCount(): number */
static napi_value WatchedCount(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  CHECK(env, napi_create_double(env, GetState(env)->watched_finalized, &result));
  return result;
}

/* releaseWatched(): undefined */
static napi_value ReleaseWatched(napi_env env, napi_callback_info info) {
  (void)info;
  State* state = GetState(env);
  for (size_t i = 0; i < state->watched_length; i++) napi_delete_reference(env, state->watched[i]);
  state->watched_length = 0;
  return NULL;
}

/* createExternal(tag): external */
static napi_value CreateExternal(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  double tag;
  if (!GetNumberArg(env, argc, argv, 0, "tag must be a number", &tag)) return NULL;
  Payload* payload = NewPayload(tag);
  if (napi_create_external(env, payload, FinalizePayload, KIND_HINT(KIND_EXTERNAL), &result) != napi_ok) {
    free(payload);
    napi_throw_error(env, NULL, "test_addon: napi_create_external failed");
    return NULL;
  }
  return result;
}

/* externalValue(ext): number */
static napi_value ExternalValue(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_valuetype type = napi_undefined;
  if (argc < 1 || napi_typeof(env, argv[0], &type) != napi_ok || type != napi_external) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "ext must be an external");
    return NULL;
  }
  void* data = NULL;
  CHECK(env, napi_get_value_external(env, argv[0], &data));
  CHECK(env, napi_create_double(env, ((Payload*)data)->value, &result));
  return result;
}

/* counts(): { wrap, extra, external } */
static napi_value Counts(napi_env env, napi_callback_info info) {
  (void)info;
  State* state = GetState(env);
  napi_value result, count;
  CHECK(env, napi_create_object(env, &result));
  for (int i = 0; i < KIND_COUNT; i++) {
    CHECK(env, napi_create_uint32(env, (uint32_t)state->logs[i].length, &count));
    CHECK(env, napi_set_named_property(env, result, kKindNames[i], count));
  }
  return result;
}

/* finalized(): { wrap: number[], extra: number[], external: number[] } */
static napi_value Finalized(napi_env env, napi_callback_info info) {
  (void)info;
  State* state = GetState(env);
  napi_value result, array, tag;
  CHECK(env, napi_create_object(env, &result));
  for (int i = 0; i < KIND_COUNT; i++) {
    const Log* log = &state->logs[i];
    CHECK(env, napi_create_array_with_length(env, log->length, &array));
    for (size_t j = 0; j < log->length; j++) {
      CHECK(env, napi_create_double(env, log->tags[j], &tag));
      CHECK(env, napi_set_element(env, array, (uint32_t)j, tag));
    }
    CHECK(env, napi_set_named_property(env, result, kKindNames[i], array));
  }
  return result;
}

/* Set once, when the runtime asks for the module's version (before Init). */
static bool g_finalizers_in_gc = false;

/* The process's environment as it is now. On Windows, the C runtime's
 * getenv() reads a copy taken at start, which misses what JavaScript set
 * later through process.env (bench/impls.js sets the variable just before
 * loading this addon); GetEnvironmentVariableA reads the process's own. */
static bool EnvIs(const char* name, const char* value) {
#ifdef _WIN32
  char got[16];
  DWORD length = GetEnvironmentVariableA(name, got, sizeof(got));
  return length > 0 && length < sizeof(got) && strcmp(got, value) == 0;
#else
  const char* got = getenv(name);
  return got != NULL && strcmp(got, value) == 0;
#endif
}

/* Looked up, never linked: a runtime without it must still load the addon. */
static bool ProcessExports(const char* name) {
#ifdef _WIN32
  return GetProcAddress(GetModuleHandleW(NULL), name) != NULL;
#else
  return dlsym(RTLD_DEFAULT, name) != NULL;
#endif
}

static int32_t ChooseApiVersion(void) {
#ifdef _WIN32
  const char* node_start = "?Start@node@@YAHHQEAPEAD@Z";
#else
  const char* node_start = "_ZN4node5StartEiPPc";
#endif
  g_finalizers_in_gc = EnvIs("ADDCLEANUP_TEST_ADDON_FINALIZERS_IN_GC", "1") &&
                       !EnvIs("ADDCLEANUP_DEFERRED_FINALIZERS", "1") &&
                       ProcessExports("node_api_post_finalizer") && ProcessExports(node_start);
  return g_finalizers_in_gc ? NAPI_VERSION_EXPERIMENTAL : 8;
}

static napi_value Init(napi_env env, napi_value exports) {
  State* state = (State*)calloc(1, sizeof(State));
  if (state == NULL) abort();
  if (napi_set_instance_data(env, state, DeleteState, NULL) != napi_ok) {
    free(state);
    napi_throw_error(env, NULL, "test_addon: napi_set_instance_data failed");
    return NULL;
  }

  napi_value wrapped;
  CHECK(env, napi_define_class(env, "Wrapped", NAPI_AUTO_LENGTH, WrappedConstructor, NULL,
                               0, NULL, &wrapped));
  CHECK(env, napi_set_named_property(env, exports, "Wrapped", wrapped));

  static const struct {
    const char* name;
    napi_callback callback;
  } functions[] = {
      {"wrap", Wrap},
      {"unwrapValue", UnwrapValue},
      {"removeWrap", RemoveWrap},
      {"addFinalizer", AddFinalizer},
      {"createExternal", CreateExternal},
      {"externalValue", ExternalValue},
      {"watch", Watch},
      {"watchedCount", WatchedCount},
      {"releaseWatched", ReleaseWatched},
      {"counts", Counts},
      {"finalized", Finalized},
  };
  for (size_t i = 0; i < sizeof(functions) / sizeof(functions[0]); i++) {
    napi_value fn;
    CHECK(env, napi_create_function(env, functions[i].name, NAPI_AUTO_LENGTH,
                                    functions[i].callback, NULL, &fn));
    CHECK(env, napi_set_named_property(env, exports, functions[i].name, fn));
  }
  napi_value in_gc;
  CHECK(env, napi_get_boolean(env, g_finalizers_in_gc, &in_gc));
  CHECK(env, napi_set_named_property(env, exports, "finalizersInGc", in_gc));
  return exports;
}

/* NAPI_MODULE's two entry points, spelled out: its version function would
 * return the compile-time NAPI_VERSION, and this one is chosen at load. The
 * runtime calls the version function first. */
NAPI_MODULE_EXPORT int32_t NODE_API_MODULE_GET_API_VERSION(void) { return ChooseApiVersion(); }

NAPI_MODULE_EXPORT napi_value NAPI_MODULE_INITIALIZER(napi_env env, napi_value exports) {
  return Init(env, exports);
}
