#include "registry.h"

#include <cmath>
#include <limits>
#include <new>

#include "checks.h"
#include "queue.h"

namespace addcleanup {

bool Registry::DecodeId(double id, uint32_t* slot, uint32_t* generation) {
  // Anything that is not an id this table could have produced is refused
  // before it is used as an index.
  if (!(id >= 0) || id > 9007199254740991.0 || std::floor(id) != id) {
    return false;
  }
  const double gen = std::floor(id / kSlotSpan);
  if (gen > kMaxGeneration) return false;
  *generation = static_cast<uint32_t>(gen);
  *slot = static_cast<uint32_t>(id - gen * kSlotSpan);
  return true;
}

// The finalizer's data pointer carries the slot, and on 64-bit platforms its
// generation too, so that a finalizer call can be matched to the
// registration it was made for. No allocation: the pointer is never
// dereferenced.
void* Registry::FinalizerData(uint32_t slot, uint32_t generation) {
  uintptr_t value = slot;
  if (sizeof(uintptr_t) >= 8) value |= static_cast<uintptr_t>(generation) << 16 << 16;
  return reinterpret_cast<void*>(value);
}

bool Registry::DecodeFinalizerData(void* data, uint32_t* slot, uint32_t* generation) {
  const uintptr_t value = reinterpret_cast<uintptr_t>(data);
  *slot = static_cast<uint32_t>(value & 0xffffffffu);
  *generation = static_cast<uint32_t>(value >> 16 >> 16);
  return sizeof(uintptr_t) >= 8;
}

bool Registry::AcquireSlot(napi_env env, uint32_t* slot, napi_status* status) {
  if (!free_.empty()) {
    *slot = free_.back();
    free_.pop_back();
    return true;
  }
  if (slot_count_ == std::numeric_limits<uint32_t>::max()) {
    *status = napi_generic_failure;
    return false;
  }
  // A new slot needs its word before anything can happen to it. The page
  // provider is JavaScript: if it registered objects itself, the table has
  // grown meanwhile, so coverage is checked again afterwards.
  if ((*status = EnsurePages(env, size_t{slot_count_} + 1)) != napi_ok) return false;
  if (new_page_ != nullptr && pages_.size() * kPageSize < size_t{slot_count_} + 1) {
    *status = napi_generic_failure;
    return false;
  }
  if (slot_count_ == slot_pages_.size() * kPageSize) {
    SlotPage* page = new (std::nothrow) SlotPage();
    if (page == nullptr) {
      *status = napi_generic_failure;
      return false;
    }
    slot_pages_.emplace_back(page);
  }
  *slot = slot_count_++;
  return true;
}

void Registry::FreeSlot(uint32_t slot) {
  Slot s = At(slot);
  s.ref = nullptr;
  if (s.generation() == kMaxGeneration) {
    s.set_state(State::kRetired);
  } else {
    s.set_generation(s.generation() + 1);
    s.set_state(State::kFree);
    free_.push_back(slot);
  }
  Mirror(slot);
}

int32_t* Registry::WordOf(uint32_t slot) const {
  const size_t page = slot >> kPageBits;
  if (page >= pages_.size()) return nullptr;  // words off, or torn down
  return &pages_[page][slot & (kPageSize - 1)];
}

void Registry::Mirror(uint32_t slot) {
  int32_t* word = WordOf(slot);
  if (word != nullptr) *word = static_cast<int32_t>(MetaOf(slot));
}

bool Registry::StoppedByJs(uint32_t slot) const {
  const int32_t* word = WordOf(slot);
  return word != nullptr &&
         *word == static_cast<int32_t>(Pack(MetaOf(slot) >> kStateBits, State::kStopped));
}

napi_status Registry::EnsurePages(napi_env env, size_t count) {
  if (new_page_ == nullptr) return napi_ok;  // words off
  while (pages_.size() * kPageSize < count) {
    napi_value provider, global, index, page;
    napi_status status;
    if ((status = napi_get_reference_value(env, new_page_, &provider)) != napi_ok ||
        (status = napi_get_global(env, &global)) != napi_ok ||
        (status = napi_create_uint32(env, static_cast<uint32_t>(pages_.size()), &index)) !=
            napi_ok ||
        (status = napi_call_function(env, global, provider, 1, &index, &page)) != napi_ok) {
      return status;
    }
    // Only an Int32Array of exactly one page over a SharedArrayBuffer will
    // do: an ordinary ArrayBuffer could be detached (transferred) and its
    // memory freed under our pointer; a shared one never is. Node-API tells
    // them apart: napi_is_arraybuffer is false for a SharedArrayBuffer.
    bool is_typedarray = false, is_plain_buffer = true;
    if ((status = napi_is_typedarray(env, page, &is_typedarray)) != napi_ok) return status;
    if (!is_typedarray) return napi_array_expected;
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;
    napi_value buffer;
    if ((status = napi_get_typedarray_info(env, page, &type, &length, &data, &buffer, nullptr)) !=
            napi_ok ||
        (status = napi_is_arraybuffer(env, buffer, &is_plain_buffer)) != napi_ok) {
      return status;
    }
    if (type != napi_int32_array || length != kPageSize || data == nullptr || is_plain_buffer ||
        reinterpret_cast<uintptr_t>(data) % alignof(int32_t) != 0) {
      return napi_array_expected;
    }
    napi_ref ref;
    if ((status = napi_create_reference(env, page, 1, &ref)) != napi_ok) return status;
    page_refs_.push_back(ref);
    pages_.push_back(static_cast<int32_t*>(data));
    // A page is filled before it is used: JavaScript may have written anything.
    const uint32_t first = static_cast<uint32_t>((pages_.size() - 1) * kPageSize);
    for (uint32_t i = 0; i < kPageSize; i++) pages_.back()[i] = 0;
    for (uint32_t slot = first; slot < slot_count_ && slot < first + kPageSize; slot++) {
      Mirror(slot);
    }
  }
  return napi_ok;
}

napi_status Registry::EnablePages(napi_env env, napi_value new_page) {
  if (new_page_ != nullptr || tearing_down_) return napi_generic_failure;
  napi_status status = napi_create_reference(env, new_page, 1, &new_page_);
  if (status != napi_ok) return status;
  status = EnsurePages(env, slot_count_);
  if (status != napi_ok) ReleasePages(env);  // back to words off
  return status;
}

void Registry::ReleasePages(napi_env env) {
  pages_.clear();
  for (napi_ref ref : page_refs_) DeleteReference(env, ref);
  page_refs_.clear();
  if (new_page_ != nullptr) DeleteReference(env, new_page_);
  new_page_ = nullptr;
}

void Registry::BeginTeardown(napi_env env) {
  tearing_down_ = true;
  // No reference is deleted here: the queue is about to drop its contents
  // and no reap will come, and the runtime has yet to finalize the pending
  // ones; DeleteAllReferences deletes every one that is left, once, at the
  // end.
  ReleasePages(env);
}

void Registry::DeleteAllReferences(napi_env env) {
  for (uint32_t slot = 0; slot < slot_count_; slot++) {
    Slot s = At(slot);
    if (s.ref != nullptr) DeleteReference(env, s.ref);
    s.ref = nullptr;
  }
}

napi_status Registry::Add(napi_env env, napi_value target, double* id) {
  uint32_t slot;
  napi_status status = napi_ok;
  if (!AcquireSlot(env, &slot, &status)) return status;

  // The reference is weak from the start (refcount 0) and carries our
  // finalizer; it is the only thing that watches the object, and it never
  // keeps it alive. The slot and its generation travel as the finalizer's
  // data pointer.
  napi_ref ref = nullptr;
  status = napi_add_finalizer(env, target, FinalizerData(slot, At(slot).generation()), OnCollected,
                              this, &ref);
  if (status != napi_ok) {
    // Nothing was registered: hand the slot back without burning a
    // generation, since no id for it ever left this function.
    At(slot).set_state(State::kFree);
    free_.push_back(slot);
    return status;
  }

  // The slot is read again only now: a GC inside napi_add_finalizer may have
  // run other finalizers, never this slot's (it had no reference yet).
  Slot s = At(slot);
  s.ref = ref;
  s.set_state(State::kPending);
  Mirror(slot);
  pending_++;
  *id = static_cast<double>(s.generation()) * kSlotSpan + slot;
  return napi_ok;
}

bool Registry::Stop(napi_env env, double id) {
  uint32_t slot, generation;
  if (!DecodeId(id, &slot, &generation)) return false;
  if (slot >= slot_count_) return false;
  Slot s = At(slot);
  if (s.generation() != generation || s.state() != State::kPending) return false;
  if (StoppedByJs(slot)) return false;  // stopped already, waiting for its reap

  // Deleting the reference cancels its finalizer, including one that Node has
  // already scheduled but not yet run (deferred mode): from here on, the
  // death of the object can no longer reach us. (Inside the GC, the finalizer
  // of a pending slot would have made it kQueued before we got here.)
  DeleteReference(env, s.ref);
  pending_--;
  FreeSlot(slot);
  return true;
}

void Registry::Reap(napi_env env, const uint32_t* slots, size_t count) {
  // Last stopped first: usually the newest references first, which Deno
  // deletes in time proportional to the references made after each one
  // (250,000 stopped in the order they were made: 51.7 s in order, see the
  // commit); the order changes nothing on Node.
  for (size_t i = count; i-- > 0;) {
    const uint32_t slot = slots[i];
    if (slot >= slot_count_) continue;
    Slot s = At(slot);
    if (s.state() == State::kPending && StoppedByJs(slot)) {
      // As in Stop: this also cancels a finalizer that Node has scheduled.
      DeleteReference(env, s.ref);
      pending_--;
      FreeSlot(slot);
    } else if (s.state() == State::kStopped) {
      DeleteReference(env, s.ref);  // finalized, not yet deleted
      FreeSlot(slot);
    }
  }
}

void Registry::BeginDelivery(uint32_t slot) {
  ADDCLEANUP_ASSERT(slot < slot_count_);
  ADDCLEANUP_ASSERT(At(slot).state() == State::kQueued);
  At(slot).set_state(State::kDelivering);
  Mirror(slot);
  queued_--;
}

void Registry::Release(napi_env env, uint32_t slot) {
  ADDCLEANUP_ASSERT(slot < slot_count_);
  ADDCLEANUP_ASSERT(At(slot).state() == State::kDelivering);
  DeleteReference(env, At(slot).ref);  // finalized, not yet deleted
  FreeSlot(slot);
}

napi_status Registry::CollectLive(napi_env env, napi_value slots_out, napi_value targets_out) {
  uint32_t n = 0;
  for (uint32_t slot = 0; slot < slot_count_; slot++) {
    // Re-read on every iteration: the allocations below may run finalizers.
    if (At(slot).state() != State::kPending || StoppedByJs(slot)) continue;
    napi_value target = nullptr, index;
    napi_status status = napi_get_reference_value(env, At(slot).ref, &target);
    if (status != napi_ok) return status;
    // Dead but not yet finalized: nothing to report for it.
    if (target == nullptr) continue;
    if ((status = napi_create_uint32(env, slot, &index)) != napi_ok ||
        (status = napi_set_element(env, slots_out, n, index)) != napi_ok ||
        (status = napi_set_element(env, targets_out, n, target)) != napi_ok) {
      return status;
    }
    n++;
  }
  return napi_ok;
}

// May run inside the garbage collector (see the header): native memory only.
void Registry::OnCollected(napi_env /*env*/, void* data, void* hint) {
  Registry* self = static_cast<Registry*>(hint);
  uint32_t slot, generation;
  const bool has_generation = DecodeFinalizerData(data, &slot, &generation);
  // Node calls each finalizer once, and never after its reference was
  // deleted. A runtime that did otherwise (a second call, or one for a
  // reference deleted by stop) must not touch a slot that has moved on:
  // such a call is ignored instead of queueing a registration that did not
  // die, or one that is already gone.
  if (slot >= self->slot_count_) return;
  Slot s = self->At(slot);
  if (s.state() != State::kPending || (has_generation && s.generation() != generation)) return;

  self->pending_--;

  if (self->tearing_down_) {
    // Environment teardown finalizes every live reference. The cleanup must
    // not run (JavaScript is refused now) and its JS half dies with the
    // context; the reference, ours to delete (it was created with a result
    // pointer), is deleted by DeleteAllReferences, outside any GC.
    s.set_state(State::kQueued);
    return;
  }

  // The reference (already empty: its object is gone) is deleted later, on
  // the loop: in the queue's sliced drain (Release) or in the reap of a
  // stopped slot; at teardown, by BeginTeardown or DeleteAllReferences.

  if (self->StoppedByJs(slot)) {
    // Stopped before its object died: nothing to run. The slot stays out of
    // reuse until its reap, which is already on its way from JavaScript.
    s.set_state(State::kStopped);
    self->Mirror(slot);
    return;
  }

  s.set_state(State::kQueued);
  self->Mirror(slot);
  self->queued_++;
  self->queue_->Push(slot);
}

}  // namespace addcleanup
