#include "queue.h"

#include <algorithm>
#include <chrono>

#include "checks.h"
#include "registry.h"

namespace addcleanup {

uint64_t Queue::NowNs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

napi_status Queue::Start(napi_env env, napi_value deliver, napi_value schedule) {
  ADDCLEANUP_ASSERT(!started() && !closed_);
  env_ = env;
  // Each step stores what it made at once, so that a failure anywhere can be
  // undone by ReleaseHandles, which releases whatever is set. No async context of our
  // own: `deliver` enters one in JavaScript (lib/core.ts), so that teardown
  // needs no call that could run JavaScript or make V8 handles.
  napi_value name, slice_fn;
  napi_status status;
  if ((status = napi_create_string_utf8(env, "addcleanup", NAPI_AUTO_LENGTH, &name)) != napi_ok ||
      (status = napi_create_reference(env, deliver, 1, &deliver_)) != napi_ok ||
      (schedule != nullptr &&
       (status = napi_create_reference(env, schedule, 1, &schedule_)) != napi_ok) ||
      (status = napi_create_function(env, "addcleanupSlice", NAPI_AUTO_LENGTH, OnSlice, this,
                                     &slice_fn)) != napi_ok ||
      (status = napi_create_reference(env, slice_fn, 1, &slice_fn_)) != napi_ok ||
      // No JavaScript function and no finalizer: OnWake does the work, and
      // the function dies with the environment (Close releases it).
      (status = napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, nullptr, nullptr,
                                                this, OnWake, &wake_)) != napi_ok ||
      // Idle until something is queued: watching objects must not keep the
      // thread alive.
      (status = napi_unref_threadsafe_function(env, wake_)) != napi_ok) {
    // A failed start leaves the queue unstarted, with what it holds: deaths
    // queued before setup stay queued for a later, successful one.
    ReleaseHandles(env);
    return status;
  }
  // Objects may have died before the queue was started; deliver them now.
  if (size() > 0) Wake();
  return napi_ok;
}

// Called by finalizers, maybe inside the GC: native memory and the
// thread-safe function's wake-up only.
void Queue::Push(uint32_t slot) {
  ADDCLEANUP_ASSERT(!closed_);
  if (!stamp_open_ || pushed_ - stamps_.back().seq >= kStampEvery) {
    stamps_.push_back(Stamp{pushed_, NowNs()});
    stamp_open_ = true;
  }
  if (items_.size() > run_start_ && slot < items_.back()) run_descents_++;
  items_.push_back(slot);
  pushed_++;
  if (!armed_) Wake();
}

void Queue::Wake() {
  if (wake_ == nullptr || closed_) return;
  armed_ = true;
  // Both calls touch only the thread-safe function's native state (a mutex,
  // a small queue, the ref count of its handle, an async send): they are
  // among the calls allowed inside the GC. Ref'd until OnWake has handed the
  // keep-alive to the scheduled slice.
  napi_status status = napi_ref_threadsafe_function(env_, wake_);
  if (status == napi_ok) {
    status = napi_call_threadsafe_function(wake_, nullptr, napi_tsfn_nonblocking);
    if (status != napi_ok) {
      // Closing (environment teardown): nothing is delivered any more. The
      // unref cannot fail on a live function; its status says nothing new.
      static_cast<void>(napi_unref_threadsafe_function(env_, wake_));
    }
  }
  if (status != napi_ok) armed_ = false;
}

void Queue::OnWake(napi_env env, napi_value /*js_callback*/, void* context, void* /*data*/) {
  // A null env: the function is being torn down with this call still queued.
  if (env == nullptr) return;
  Queue* queue = static_cast<Queue*>(context);
  if (queue->closed_ || queue->wake_ == nullptr) return;
  // The first slice runs right here, in the poll phase of the loop turn
  // after the death; if it leaves work, the slice it schedules keeps the
  // loop alive from then on. Unref fails only for a null function, which was
  // checked above.
  static_cast<void>(napi_unref_threadsafe_function(env, queue->wake_));
  // One batch only, when a scheduled slice can follow: a slice scheduled from
  // the poll phase runs in the same loop turn's check phase, so the two
  // together must stay within one slice's budget.
  queue->RunSlice(env, queue->schedule_ != nullptr ? 1 : kMaxBatchesPerSlice);
}

void Queue::ScheduleSlice(napi_env env) {
  napi_value schedule, slice_fn, undefined, result;
  if (napi_get_reference_value(env, schedule_, &schedule) != napi_ok || schedule == nullptr ||
      napi_get_reference_value(env, slice_fn_, &slice_fn) != napi_ok || slice_fn == nullptr ||
      napi_get_undefined(env, &undefined) != napi_ok ||
      napi_call_function(env, undefined, schedule, 1, &slice_fn, &result) != napi_ok) {
    // JavaScript cannot run (a worker being terminated) or the scheduler
    // threw: go idle; the next death tries again, teardown drops the rest.
    napi_value exception;
    static_cast<void>(napi_get_and_clear_last_exception(env, &exception));
    armed_ = false;
  }
}

napi_value Queue::OnSlice(napi_env env, napi_callback_info info) {
  void* data = nullptr;
  if (napi_get_cb_info(env, info, nullptr, nullptr, nullptr, &data) == napi_ok && data != nullptr) {
    static_cast<Queue*>(data)->RunSlice(env, kMaxBatchesPerSlice);
  }
  return nullptr;
}

size_t Queue::NextBatchLength() {
  const uint64_t seq = pushed_ - size();
  while (stamps_.size() > 1 && stamps_[1].seq <= seq) stamps_.pop_front();
  size_t count = std::min(size(), kBatchSize);
  if (stamps_.size() > 1) count = std::min<size_t>(count, stamps_[1].seq - seq);
  return count;
}

double Queue::WaitedMs(uint64_t seq, uint64_t now_ns) {
  while (stamps_.size() > 1 && stamps_[1].seq <= seq) stamps_.pop_front();
  if (stamps_.empty() || now_ns < stamps_.front().ns) return 0;
  return static_cast<double>(now_ns - stamps_.front().ns) / 1e6;
}

napi_status Queue::DeliverBatch(napi_value deliver, size_t count) {
  // A fresh buffer per batch: JavaScript may keep or alter the array it was
  // given without touching the queue, and the slots to release are read from
  // items_, never back from the array. items_ is only indexed, never pointed
  // into, across calls that allocate: a GC there may push (and reallocate).
  void* data = nullptr;
  napi_value argv[2];
  napi_value buffer, undefined;
  napi_status status = napi_create_arraybuffer(env_, count * sizeof(uint32_t), &data, &buffer);
  if (status != napi_ok) return status;
  uint32_t* ids = static_cast<uint32_t*>(data);
  for (size_t i = 0; i < count; i++) ids[i] = items_[head_ + i];
  const double waited_ms = WaitedMs(pushed_ - size(), NowNs());
  if ((status = napi_create_typedarray(env_, napi_uint32_array, count, buffer, 0, &argv[0])) !=
          napi_ok ||
      (status = napi_create_double(env_, waited_ms, &argv[1])) != napi_ok ||
      (status = napi_get_undefined(env_, &undefined)) != napi_ok) {
    return status;
  }

  const size_t begin = head_;
  head_ += count;
  for (size_t i = begin; i < begin + count; i++) registry_.BeginDelivery(items_[i]);
  // A plain call: every slice already runs as a top-level callback (the
  // thread-safe function's, or an immediate's), after which the runtime runs
  // the ticks and microtasks the cleanups queued.
  status = napi_call_function(env_, undefined, deliver, 2, argv, nullptr);
  // Whatever happened in JavaScript, these slots were handed over: their
  // cleanup and arg are gone from the JS tables, so the slots are free again.
  // (They were kept out of reuse during the call, so that a cleanup which
  // registers new objects cannot take a slot that the batch has yet to run.)
  // Last first, for Deno's reference deletion (see Registry::Reap).
  for (size_t i = begin + count; i-- > begin;) registry_.Release(env_, items_[i]);
  return status;
}

// Least-significant-digit radix sort by slot, 11 bits a pass (three passes
// cover 32 bits; a pass whose digit is the same for every slot is skipped).
// Linear time: 10^6 slots in a few milliseconds.
void Queue::SortBySlot(uint32_t* slots, size_t count) {
  constexpr int kBits = 11;
  constexpr uint32_t kBuckets = 1u << kBits;
  std::vector<uint32_t> scratch(count);
  uint32_t* from = slots;
  uint32_t* to = scratch.data();
  for (int shift = 0; shift < 32; shift += kBits) {
    size_t counts[kBuckets] = {};
    for (size_t i = 0; i < count; i++) counts[(from[i] >> shift) & (kBuckets - 1)]++;
    if (counts[(from[0] >> shift) & (kBuckets - 1)] == count) continue;
    size_t offset = 0;
    for (uint32_t b = 0; b < kBuckets; b++) {
      const size_t n = counts[b];
      counts[b] = offset;
      offset += n;
    }
    for (size_t i = 0; i < count; i++) to[counts[(from[i] >> shift) & (kBuckets - 1)]++] = from[i];
    std::swap(from, to);
  }
  if (from != slots) std::copy(from, from + count, slots);
}

// Deferred finalizers arrive in the order of a hash set, so a large backlog
// holds its slots in random order. Delivered in slot order instead, the slot
// table, the state words, the JS tables and the references (all laid out by
// slot, or allocated in slot order) are walked sequentially: 10^6 cleanups
// are delivered about three times faster. Finalizers called from the GC
// arrive in the engine's handle order instead: ascending runs of a few
// hundred slots, which walk the tables just as well. Sorting those would
// only block the loop (about 15 ms per 10^6 slots, in one slice), so Push
// counts descents and only a random-looking run is sorted. Each slot is
// sorted at most once: what arrives after a slice forms a new run.
void Queue::SortNewRun() {
  const size_t from = std::max(head_, run_start_);
  const size_t length = items_.size() - from;
  if (length >= kSortThreshold && run_descents_ * kSortDescentSpan > length) {
    SortBySlot(items_.data() + from, length);
  }
  run_start_ = items_.size();
  run_descents_ = 0;
}

void Queue::RunSlice(napi_env env, size_t max_batches) {
  if (slicing_ || closed_ || env != env_) return;
  slicing_ = true;
  stamp_open_ = false;  // deaths from now on get a stamp of their own

  napi_handle_scope scope;
  napi_value deliver = nullptr;
  bool failed = false;
  if (napi_open_handle_scope(env_, &scope) != napi_ok) {
    failed = true;
  } else {
    if (napi_get_reference_value(env_, deliver_, &deliver) != napi_ok || deliver == nullptr) {
      failed = true;
    }
    SortNewRun();
    const uint64_t start = NowNs();
    for (size_t batch = 0; !failed && batch < max_batches && size() > 0 && !closed_; batch++) {
      if (DeliverBatch(deliver, NextBatchLength()) != napi_ok) {
        // `deliver` reports every cleanup's exception itself, so a failure
        // here means JavaScript can no longer run (a worker being
        // terminated, or process.exit() from a cleanup in a worker). Leave
        // the rest queued; teardown will drop it.
        napi_value exception;
        static_cast<void>(napi_get_and_clear_last_exception(env_, &exception));
        failed = true;
      } else if (NowNs() - start >= kSliceNs) {
        break;
      }
    }
    // Closing a scope opened just above cannot fail.
    static_cast<void>(napi_close_handle_scope(env_, scope));
  }

  if (size() == 0) {
    items_.clear();
    head_ = run_start_ = 0;
    stamps_.clear();
    stamp_open_ = false;
  } else if (head_ >= kBatchSize * 64 && head_ * 2 >= items_.size()) {
    // Reclaim the delivered prefix of a long backlog now and then.
    items_.erase(items_.begin(), items_.begin() + static_cast<ptrdiff_t>(head_));
    run_start_ = run_start_ > head_ ? run_start_ - head_ : 0;
    head_ = 0;
  }

  slicing_ = false;
  if (closed_) return;
  failures_ = failed ? failures_ + 1 : 0;
  if (size() > 0 && failures_ < kMaxFailures) {
    // Yield to the loop and continue on the next turn; still armed.
    if (schedule_ != nullptr) {
      ScheduleSlice(env_);
    } else {
      Wake();
    }
    return;
  }
  // Empty, or JavaScript refused to run several times in a row: go idle. The
  // environment is then normally on its way out and teardown drops the rest;
  // if it is not, the next death wakes the queue again.
  armed_ = false;
}

void Queue::Close(napi_env env) {
  closed_ = true;
  armed_ = false;
  items_.clear();
  head_ = run_start_ = 0;
  stamps_.clear();
  ReleaseHandles(env);
}

void Queue::ReleaseHandles(napi_env env) {
  for (napi_ref* ref : {&deliver_, &schedule_, &slice_fn_}) {
    if (*ref != nullptr) DeleteReference(env, *ref);
    *ref = nullptr;
  }
  if (wake_ != nullptr) {
    // Abort: pending wake-ups are dropped and the function closes with the
    // environment. It may already be closing (Node's own cleanup hook for it
    // can run before ours); releasing it then changes nothing, and it is not
    // freed before the hooks have all run, so the call is safe either way.
    static_cast<void>(napi_release_threadsafe_function(wake_, napi_tsfn_abort));
    wake_ = nullptr;
  }
}

}  // namespace addcleanup
