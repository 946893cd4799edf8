#include "registry.h"

#include <cmath>
#include <limits>

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

bool Registry::AcquireSlot(uint32_t* slot) {
  if (!free_.empty()) {
    *slot = free_.back();
    free_.pop_back();
    return true;
  }
  if (slots_.size() >= std::numeric_limits<uint32_t>::max()) return false;
  *slot = static_cast<uint32_t>(slots_.size());
  slots_.emplace_back();
  return true;
}

void Registry::FreeSlot(uint32_t slot) {
  Slot& s = slots_[slot];
  s.ref = nullptr;
  if (s.generation == kMaxGeneration) {
    s.state = State::kRetired;
    return;
  }
  s.generation++;
  s.state = State::kFree;
  free_.push_back(slot);
}

napi_status Registry::Add(napi_env env, napi_value target, double* id) {
  uint32_t slot;
  if (!AcquireSlot(&slot)) return napi_generic_failure;

  // The reference is weak from the start (refcount 0) and carries our
  // finalizer; it is the only thing that watches the object, and it never
  // keeps it alive. The slot index travels as the finalizer's data pointer.
  napi_ref ref = nullptr;
  napi_status status = napi_add_finalizer(
      env, target, reinterpret_cast<void*>(static_cast<uintptr_t>(slot)), OnCollected, this, &ref);
  if (status != napi_ok) {
    // Nothing was registered: hand the slot back without burning a
    // generation, since no id for it ever left this function.
    slots_[slot].state = State::kFree;
    free_.push_back(slot);
    return status;
  }

  Slot& s = slots_[slot];
  s.ref = ref;
  s.state = State::kPending;
  pending_++;
  *id = static_cast<double>(s.generation) * kSlotSpan + slot;
  return napi_ok;
}

bool Registry::Stop(napi_env env, double id) {
  uint32_t slot, generation;
  if (!DecodeId(id, &slot, &generation)) return false;
  if (slot >= slots_.size()) return false;
  Slot& s = slots_[slot];
  if (s.generation != generation || s.state != State::kPending) return false;

  // Deleting the reference cancels its finalizer, including one that Node has
  // already scheduled but not yet run: from here on, the death of the object
  // can no longer reach us.
  napi_delete_reference(env, s.ref);
  pending_--;
  FreeSlot(slot);
  return true;
}

void Registry::BeginDelivery(uint32_t slot) {
  ADDCLEANUP_ASSERT(slot < slots_.size());
  ADDCLEANUP_ASSERT(slots_[slot].state == State::kQueued);
  slots_[slot].state = State::kDelivering;
  queued_--;
}

void Registry::Release(uint32_t slot) {
  ADDCLEANUP_ASSERT(slot < slots_.size());
  ADDCLEANUP_ASSERT(slots_[slot].state == State::kDelivering);
  FreeSlot(slot);
}

napi_status Registry::CollectLive(napi_env env, napi_value slots_out, napi_value targets_out) {
  uint32_t n = 0;
  for (uint32_t slot = 0; slot < slots_.size(); slot++) {
    const Slot& s = slots_[slot];
    if (s.state != State::kPending) continue;
    napi_value target = nullptr, index;
    napi_status status = napi_get_reference_value(env, s.ref, &target);
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

void Registry::OnCollected(napi_env env, void* data, void* hint) {
  Registry* self = static_cast<Registry*>(hint);
  const uint32_t slot = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(data));
  ADDCLEANUP_ASSERT(slot < self->slots_.size());
  Slot& s = self->slots_[slot];
  ADDCLEANUP_ASSERT(s.state == State::kPending);

  // The reference was created with a result pointer, so it is ours to delete,
  // and Node-API allows exactly this: deleting it from its own finalizer.
  napi_delete_reference(env, s.ref);
  s.ref = nullptr;
  self->pending_--;

  if (self->tearing_down_) {
    // Environment teardown finalizes every live reference. The cleanup must
    // not run (JavaScript is refused now) and its JS half dies with the
    // context; only the native slot is left, freed with the table.
    s.state = State::kFree;
    return;
  }

  s.state = State::kQueued;
  self->queued_++;
  self->queue_->Push(slot);
}

}  // namespace addcleanup
