// The hand-off from the garbage collector to the event loop, with Node-API
// alone (no libuv call: the addon also loads where Node-API exists without
// libuv).
//
// Registry finalizers push the slots of dead objects here, possibly from
// inside the GC (native/runtime.h). Push touches native memory only, and on
// the first death after the queue went idle it wakes the loop through a
// thread-safe function, the one Node-API wake-up that may be triggered from
// anywhere. On the loop, the wake-up runs the first slice, and each slice
// that leaves work schedules the next one with the `schedule` function given
// to Start (setImmediate from node:timers, captured by lib/core.ts at load).
// A slice calls the JavaScript `deliver(slots: Uint32Array, waitedMs: number)`
// once per batch of at most kBatchSize slots, found dead under one time stamp
// (lib/core.ts runs each batch inside an "addcleanup" AsyncResource, so async
// hooks and AsyncLocalStorage see cleanups as such), and stops after
// kMaxBatchesPerSlice batches or kSliceNs, whichever comes first; what is left
// goes to the next slice, one loop turn later. The first slice after a wake-up
// runs in the poll phase and delivers one batch (a few deaths are delivered as
// soon as possible); the slice it schedules runs in the same turn's check
// phase; from then on one slice per turn. A mass death is therefore delivered
// in short slices, at most kMaxBatchesPerSlice + 1 batches per loop turn,
// between which the loop runs everything else.
//
// Keep-alive: while idle, nothing here is ref'd, so watching live objects
// never keeps a thread alive. From the first queued death until the queue is
// empty again, first the thread-safe function (ref'd by Push) and then the
// pending immediate keep the loop alive, so queued cleanups run before a
// natural exit, as FinalizationRegistry callbacks do.
#ifndef ADDCLEANUP_QUEUE_H_
#define ADDCLEANUP_QUEUE_H_

#include <node_api.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

namespace addcleanup {

class Registry;

class Queue {
 public:
  // Slots handed to one `deliver` call.
  static constexpr size_t kBatchSize = 1024;
  // A slice delivers at most this many batches...
  static constexpr size_t kMaxBatchesPerSlice = 16;
  // ...and starts no new batch after this long.
  static constexpr uint64_t kSliceNs = 1000 * 1000;
  // A slice sorts what was queued since the previous one by slot when it is
  // at least this long (smaller runs gain nothing) and came in random order:
  // more than one descent per kSortDescentSpan slots. The engine's own order
  // (finalizers called from the GC) is ascending runs of a few hundred slots,
  // about one descent per 256; a hash set's order (deferred finalizers) has
  // one descent every other slot.
  static constexpr size_t kSortThreshold = 4096;
  static constexpr size_t kSortDescentSpan = 16;
  // Consecutive failed batches (JavaScript refusing to run) before the queue
  // stops retrying on its own.
  static constexpr int kMaxFailures = 3;
  // A time stamp is taken at the first death after each slice and again
  // every this many deaths (a clock read per death would cost ~20 ns each
  // inside the GC).
  static constexpr uint64_t kStampEvery = 4096;

  explicit Queue(Registry& registry) : registry_(registry) {}
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;

  // Binds the queue to its environment, to the JavaScript `deliver` function
  // and to `schedule(fn)`, which must run fn on a later turn of the loop
  // (nullptr: the wake-up itself is reused, which does not yield to the
  // loop between slices). On failure nothing is left allocated.
  napi_status Start(napi_env env, napi_value deliver, napi_value schedule);
  bool started() const { return wake_ != nullptr; }

  // Queues the slot of an object that died. Owning thread only; may run
  // inside the GC.
  void Push(uint32_t slot);

  // Environment teardown: drops what is queued (no JavaScript may run any
  // more), releases the JavaScript references and the thread-safe function.
  void Close(napi_env env);

  size_t size() const { return items_.size() - head_; }

 private:
  // Deletes the JavaScript references and releases the thread-safe function,
  // whichever of them are set (Close, and a Start that failed half-way).
  void ReleaseHandles(napi_env env);
  struct Stamp {
    uint64_t seq;  // the push sequence number of the first slot it covers
    uint64_t ns;   // monotonic clock, nanoseconds: never wraps
  };

  static uint64_t NowNs();
  static void OnWake(napi_env env, napi_value js_callback, void* context, void* data);
  static napi_value OnSlice(napi_env env, napi_callback_info info);
  void Wake();
  void ScheduleSlice(napi_env env);
  void RunSlice(napi_env env, size_t max_batches);
  void SortNewRun();
  static void SortBySlot(uint32_t* slots, size_t count);
  // The length of the next batch: at most kBatchSize slots, all under one
  // time stamp, so that the batch's `waitedMs` holds for each of its slots
  // (the tracing channel reports it per cleanup).
  size_t NextBatchLength();
  // How long the slot with push sequence number `seq` has waited, in ms.
  double WaitedMs(uint64_t seq, uint64_t now_ns);
  // Delivers items_[head_, head_ + count) in one JavaScript call.
  napi_status DeliverBatch(napi_value deliver, size_t count);

  Registry& registry_;
  napi_env env_ = nullptr;
  napi_ref deliver_ = nullptr;
  napi_ref schedule_ = nullptr;
  napi_ref slice_fn_ = nullptr;
  napi_threadsafe_function wake_ = nullptr;
  std::vector<uint32_t> items_;
  size_t head_ = 0;
  size_t run_start_ = 0;     // items_[run_start_, ..) arrived since the last slice
  size_t run_descents_ = 0;  // ...with this many slots below their predecessor
  uint64_t pushed_ = 0;      // push sequence number of the next slot
  std::deque<Stamp> stamps_;
  bool stamp_open_ = false;  // the newest stamp covers the next push
  int failures_ = 0;
  bool armed_ = false;  // a wake-up or a slice is on its way
  bool slicing_ = false;
  bool closed_ = false;
};

}  // namespace addcleanup

#endif  // ADDCLEANUP_QUEUE_H_
