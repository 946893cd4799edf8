#include "queue.h"

#include <algorithm>

#include "checks.h"
#include "registry.h"

namespace addcleanup {

// The libuv handle lives in its own allocation: libuv owns it from uv_close()
// until the close callback, which may run after the Queue (and the rest of the
// per-environment state) is gone. `queue` is cleared before uv_close(), so a
// closed handle can never reach the Queue again.
struct Queue::Wakeup {
  uv_async_t handle;
  Queue* queue;
  void (*on_closed)(void*);
  void* on_closed_data;
};

napi_status Queue::Start(napi_env env, napi_value deliver) {
  ADDCLEANUP_ASSERT(!started() && !closed_);
  uv_loop_t* loop = nullptr;
  napi_status status = napi_get_uv_event_loop(env, &loop);
  if (status != napi_ok) return status;

  // The receiver of every batch call doubles as the async resource, so that
  // async_hooks and AsyncLocalStorage see cleanups as "addcleanup" callbacks.
  napi_value receiver, name;
  if ((status = napi_create_object(env, &receiver)) != napi_ok) return status;
  if ((status = napi_create_string_utf8(env, "addcleanup", NAPI_AUTO_LENGTH, &name)) != napi_ok) {
    return status;
  }
  napi_async_context context = nullptr;
  if ((status = napi_async_init(env, receiver, name, &context)) != napi_ok) {
    return status;
  }
  napi_ref deliver_ref = nullptr, receiver_ref = nullptr;
  if ((status = napi_create_reference(env, deliver, 1, &deliver_ref)) != napi_ok ||
      (status = napi_create_reference(env, receiver, 1, &receiver_ref)) != napi_ok) {
    if (deliver_ref != nullptr) napi_delete_reference(env, deliver_ref);
    napi_async_destroy(env, context);
    return status;
  }

  Wakeup* wakeup = new Wakeup{};
  if (uv_async_init(loop, &wakeup->handle, OnWake) != 0) {
    delete wakeup;
    napi_delete_reference(env, deliver_ref);
    napi_delete_reference(env, receiver_ref);
    napi_async_destroy(env, context);
    return napi_generic_failure;
  }
  wakeup->queue = this;
  wakeup->handle.data = wakeup;
  // Idle until something is queued: watching objects must not keep the
  // thread alive.
  uv_unref(reinterpret_cast<uv_handle_t*>(&wakeup->handle));

  env_ = env;
  loop_ = loop;
  base_ms_ = uv_now(loop);
  deliver_ = deliver_ref;
  receiver_ = receiver_ref;
  async_context_ = context;
  wakeup_ = wakeup;
  // Objects may have died before the queue was started; deliver them now.
  if (size() > 0) Arm();
  return napi_ok;
}

void Queue::Push(uint32_t slot) {
  ADDCLEANUP_ASSERT(!closed_);
  // uv_now() is the loop's cached time: reading it costs nothing.
  const uint32_t now = loop_ == nullptr ? 0 : static_cast<uint32_t>(uv_now(loop_) - base_ms_);
  items_.push_back(Item{slot, now});
  Arm();
}

void Queue::Arm() {
  if (armed_ || wakeup_ == nullptr) return;
  armed_ = true;
  // Queued cleanups keep the loop alive until they have run, as
  // FinalizationRegistry callbacks do.
  uv_ref(reinterpret_cast<uv_handle_t*>(&wakeup_->handle));
  uv_async_send(&wakeup_->handle);
}

void Queue::OnWake(uv_async_t* handle) {
  Wakeup* wakeup = static_cast<Wakeup*>(handle->data);
  if (wakeup->queue != nullptr) wakeup->queue->Drain();
}

napi_status Queue::DeliverBatch(napi_value deliver, napi_value receiver, size_t count) {
  // A fresh buffer per batch: JavaScript may keep or alter the array it was
  // given without touching the queue, and the slots to release are read from
  // items_, never back from the array.
  void* data = nullptr;
  napi_value argv[2];
  napi_value buffer;
  napi_status status = napi_create_arraybuffer(env_, count * sizeof(uint32_t), &data, &buffer);
  if (status != napi_ok) return status;
  uint32_t* ids = static_cast<uint32_t*>(data);
  uint32_t oldest = items_[head_].queued_at;
  for (size_t i = 0; i < count; i++) {
    ids[i] = items_[head_ + i].slot;
    oldest = std::min(oldest, items_[head_ + i].queued_at);
  }
  const double waited_ms = static_cast<double>(uv_now(loop_) - base_ms_ - oldest);
  if ((status = napi_create_typedarray(env_, napi_uint32_array, count, buffer, 0, &argv[0])) !=
          napi_ok ||
      (status = napi_create_double(env_, waited_ms, &argv[1])) != napi_ok) {
    return status;
  }

  const size_t begin = head_;
  head_ += count;
  for (size_t i = begin; i < begin + count; i++) {
    registry_.BeginDelivery(items_[i].slot);
  }
  status = napi_make_callback(env_, async_context_, receiver, deliver, 2, argv, nullptr);
  // Whatever happened in JavaScript, these slots were handed over: their
  // cleanup and arg are gone from the JS tables, so the slots are free again.
  // (They were kept out of reuse during the call, so that a cleanup which
  // registers new objects cannot take a slot that the batch has yet to run.)
  for (size_t i = begin; i < begin + count; i++) registry_.Release(env_, items_[i].slot);
  return status;
}

// Least-significant-digit radix sort of items by slot, 11 bits a pass (three
// passes cover 32 bits; a pass whose digit is the same for every item is
// skipped). Linear time: 10^6 items in a few milliseconds.
void Queue::SortBySlot(Item* items, size_t count) {
  constexpr int kBits = 11;
  constexpr uint32_t kBuckets = 1u << kBits;
  std::vector<Item> scratch(count);
  Item* from = items;
  Item* to = scratch.data();
  for (int shift = 0; shift < 32; shift += kBits) {
    size_t counts[kBuckets] = {};
    for (size_t i = 0; i < count; i++) counts[(from[i].slot >> shift) & (kBuckets - 1)]++;
    if (counts[(from[0].slot >> shift) & (kBuckets - 1)] == count) continue;
    size_t offset = 0;
    for (uint32_t b = 0; b < kBuckets; b++) {
      const size_t n = counts[b];
      counts[b] = offset;
      offset += n;
    }
    for (size_t i = 0; i < count; i++)
      to[counts[(from[i].slot >> shift) & (kBuckets - 1)]++] = from[i];
    std::swap(from, to);
  }
  if (from != items) std::copy(from, from + count, items);
}

void Queue::Drain() {
  if (draining_ || closed_) return;
  draining_ = true;

  napi_handle_scope scope;
  if (napi_open_handle_scope(env_, &scope) != napi_ok) {
    draining_ = false;
    return;
  }
  napi_value deliver = nullptr, receiver = nullptr;
  napi_get_reference_value(env_, deliver_, &deliver);
  napi_get_reference_value(env_, receiver_, &receiver);

  // Node hands finalizers over in the order of a hash set, so a large backlog
  // holds its slots in random order. Delivered in slot order instead, the
  // slot table, the state words, the JS tables and the references (all laid
  // out by slot, or allocated in slot order) are walked sequentially: 10^6
  // cleanups are delivered about three times faster. Each item is sorted
  // once: what was queued since the last drain forms a new sorted run.
  if (items_.size() - std::max(head_, sorted_end_) >= kSortThreshold) {
    const size_t from = std::max(head_, sorted_end_);
    SortBySlot(items_.data() + from, items_.size() - from);
  }
  sorted_end_ = items_.size();

  bool failed = false;
  const uint64_t start = uv_hrtime();
  while (size() > 0 && !closed_) {
    const size_t count = std::min(size(), kBatchSize);
    if (DeliverBatch(deliver, receiver, count) != napi_ok) {
      // `deliver` reports every cleanup's exception itself, so a failure here
      // means JavaScript can no longer run (a worker being terminated, or
      // process.exit() from a cleanup in a worker). Leave the rest queued;
      // teardown will drop it.
      napi_value exception;
      napi_get_and_clear_last_exception(env_, &exception);
      failed = true;
      break;
    }
    if (uv_hrtime() - start >= kSliceNs) break;
  }
  napi_close_handle_scope(env_, scope);

  if (size() == 0) {
    items_.clear();
    head_ = sorted_end_ = 0;
  } else if (head_ >= kBatchSize * 64 && head_ * 2 >= items_.size()) {
    // Reclaim the delivered prefix of a long backlog now and then.
    items_.erase(items_.begin(), items_.begin() + static_cast<ptrdiff_t>(head_));
    sorted_end_ -= head_;
    head_ = 0;
  }

  draining_ = false;
  if (closed_ || wakeup_ == nullptr) return;
  failures_ = failed ? failures_ + 1 : 0;
  if (size() > 0 && failures_ < kMaxFailures) {
    // Yield to the loop and continue on the next turn; the handle stays ref'd.
    uv_async_send(&wakeup_->handle);
    return;
  }
  // Empty, or JavaScript refused to run several times in a row: go idle. The
  // environment is then normally on its way out and teardown drops the rest;
  // if it is not, the next death wakes the queue again.
  armed_ = false;
  uv_unref(reinterpret_cast<uv_handle_t*>(&wakeup_->handle));
}

void Queue::OnHandleClosed(uv_handle_t* handle) {
  Wakeup* wakeup = static_cast<Wakeup*>(handle->data);
  if (wakeup->on_closed != nullptr) wakeup->on_closed(wakeup->on_closed_data);
  delete wakeup;
}

void Queue::Close(napi_env env, void (*on_closed)(void*), void* data) {
  if (closed_) return;
  closed_ = true;
  items_.clear();
  head_ = sorted_end_ = 0;
  if (deliver_ != nullptr) napi_delete_reference(env, deliver_);
  if (receiver_ != nullptr) napi_delete_reference(env, receiver_);
  if (async_context_ != nullptr) napi_async_destroy(env, async_context_);
  deliver_ = receiver_ = nullptr;
  async_context_ = nullptr;

  Wakeup* wakeup = wakeup_;
  wakeup_ = nullptr;
  if (wakeup == nullptr) {
    if (on_closed != nullptr) on_closed(data);
    return;
  }
  wakeup->queue = nullptr;
  wakeup->on_closed = on_closed;
  wakeup->on_closed_data = data;
  uv_close(reinterpret_cast<uv_handle_t*>(&wakeup->handle), OnHandleClosed);
}

}  // namespace addcleanup
