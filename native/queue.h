// The hand-off from the garbage collector to the event loop.
//
// Registry finalizers push the slots of dead objects here. A libuv async
// handle wakes the loop, and the drain calls the JavaScript
// `deliver(slots: Uint32Array, waitedMs: number)` once per batch of slots,
// through napi_make_callback so that
// each batch is an ordinary top-level callback: async hooks see it, and
// process.nextTick callbacks and microtasks queued by cleanups run when it
// returns. The drain yields back to the loop after a time budget, so a large
// backlog is delivered in slices instead of one long block.
//
// Keep-alive: the handle is unref'd whenever the queue is empty, so watching
// live objects never keeps a thread alive; while cleanups are queued it is
// ref'd, so they run before a natural exit.
#ifndef ADDCLEANUP_QUEUE_H_
#define ADDCLEANUP_QUEUE_H_

#include <node_api.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace addcleanup {

class Registry;

class Queue {
 public:
  // Ids handed to one `deliver` call.
  static constexpr size_t kBatchSize = 1024;
  // How long one wake-up may keep delivering before it yields to the loop.
  static constexpr uint64_t kSliceNs = 4 * 1000 * 1000;
  // A drain sorts what was queued since the previous one by slot when there
  // are at least this many (smaller backlogs gain nothing from it).
  static constexpr size_t kSortThreshold = 4096;
  // Consecutive failed batches (JavaScript refusing to run) before the queue
  // stops retrying on its own.
  static constexpr int kMaxFailures = 3;

  explicit Queue(Registry& registry) : registry_(registry) {}
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;

  // Binds the queue to its environment and to the JavaScript `deliver`
  // function. On failure nothing is left allocated.
  napi_status Start(napi_env env, napi_value deliver);
  bool started() const { return wakeup_ != nullptr; }

  // Queues the slot of an object that died. Loop thread only.
  void Push(uint32_t slot);

  // Environment teardown: drops what is queued (no JavaScript may run any
  // more), releases the JavaScript references and closes the libuv handle.
  // `on_closed(data)` is called once the handle is closed, possibly before
  // Close returns when there is no handle.
  void Close(napi_env env, void (*on_closed)(void*), void* data);

  size_t size() const { return items_.size() - head_; }

 private:
  struct Wakeup;

  // A queued slot and the loop time (ms, relative to base_ms_) at which its
  // object was found dead, so a batch can tell how long it waited.
  struct Item {
    uint32_t slot;
    uint32_t queued_at;
  };

  static void OnWake(uv_async_t* handle);
  static void OnHandleClosed(uv_handle_t* handle);
  void Drain();
  static void SortBySlot(Item* items, size_t count);
  // Delivers items_[head_, head_ + count) in one JavaScript call.
  napi_status DeliverBatch(napi_value deliver, napi_value receiver, size_t count);
  void Arm();

  Registry& registry_;
  napi_env env_ = nullptr;
  napi_ref deliver_ = nullptr;
  napi_ref receiver_ = nullptr;
  napi_async_context async_context_ = nullptr;
  Wakeup* wakeup_ = nullptr;
  uv_loop_t* loop_ = nullptr;
  uint64_t base_ms_ = 0;
  std::vector<Item> items_;
  size_t head_ = 0;
  size_t sorted_end_ = 0;  // items_[.., sorted_end_) were sorted (or seen) by a drain
  int failures_ = 0;
  bool armed_ = false;
  bool draining_ = false;
  bool closed_ = false;
};

}  // namespace addcleanup

#endif  // ADDCLEANUP_QUEUE_H_
