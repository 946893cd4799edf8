// The weak-handle table: one slot per registration, each holding the Node-API
// reference whose finalizer tells us that the registration's object died.
//
// Threading: everything here runs on the thread of the environment that owns
// the table (the main thread or one worker). The finalizer (OnCollected) may
// run inside the garbage collector itself: the addon declares the
// experimental Node-API version where the runtime then calls finalizers
// directly from the GC (native/runtime.h). Elsewhere the runtime defers them
// to one native immediate per collection. The finalizer is written for the
// stricter case: it touches only this table's native memory, the state words
// (plain memory) and the queue's native wake-up; it never calls JavaScript
// nor any Node-API function that could allocate on the JavaScript heap, and
// it does not delete its (now empty) reference: that happens on the loop,
// after the cleanup ran (Release), in a reap, or at teardown.
//
// Because the finalizer can run at any allocation, every other method here
// re-reads slot state after each Node-API call that allocates (a GC there may
// have queued any pending slot), and never keeps a state it read across such
// a call.
//
// State words: when `setup` gives it a page provider, the table mirrors every
// slot's (generation, state) into an Int32Array word that JavaScript reads,
// `generation * 8 + state`, in pages of kPageSize slots backed by
// SharedArrayBuffers (never detachable, so the native pointers stay valid as
// long as the table holds its reference on each page). JavaScript's stop()
// then needs no native call: it turns a pending word into "stopped" and later
// hands the slots over in one `reap` call, which deletes their references.
// The words are a mirror, never the authority: the native state of each slot
// is checked first, so whatever JavaScript writes into a page can only stop a
// registration, never corrupt the table. Both sides run on this environment's
// thread; the pages are never posted to another one (if hostile code did, a
// racing write would still be just another value in a word).
#ifndef ADDCLEANUP_REGISTRY_H_
#define ADDCLEANUP_REGISTRY_H_

#include <node_api.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace addcleanup {

class Queue;

// An id names one registration: the slot index in the low 32 bits and the
// slot's generation above them. Generations stay below 2^21 so that an id is
// an exact JavaScript number; a slot whose generation would overflow is retired
// instead of being reused, so a stale id can never match a newer registration.
class Registry {
 public:
  static constexpr uint32_t kMaxGeneration = (1u << 21) - 1;
  static constexpr double kSlotSpan = 4294967296.0;  // 2^32

  // `queue` may still be under construction: it is only stored here.
  explicit Registry(Queue* queue) : queue_(queue) {}
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Watches `target` and returns the new registration's id in `*id`. Returns
  // the failing status (with nothing registered) when `target` is not an
  // object or the engine refuses the reference.
  napi_status Add(napi_env env, napi_value target, double* id);

  static constexpr uint32_t kPageBits = 12;
  static constexpr uint32_t kPageSize = 1u << kPageBits;  // slots per page of words

  // Turns on the state words: `new_page(index)` must return an Int32Array of
  // kPageSize elements over a SharedArrayBuffer, the page for slots
  // [index * kPageSize, (index + 1) * kPageSize). Pages for the slots that
  // already exist are requested at once. On failure (a pending exception, or
  // napi_array_expected for a page that is not such an array) the words stay
  // off.
  napi_status EnablePages(napi_env env, napi_value new_page);

  // Cancels the registration if its object has not been found dead yet.
  // Returns false for an id that is stale (already run or stopped), unknown,
  // or whose cleanup is already queued: like Go's Cleanup.Stop, stopping has
  // no effect once the object was found dead. (Used when the state words are
  // off: SharedArrayBuffer disabled.)
  bool Stop(napi_env env, double id);

  // Frees the slots that JavaScript stopped through their state words:
  // deletes their references (unless their finalizer already did) and makes
  // the slots reusable. Slots in any other state are ignored.
  void Reap(napi_env env, const uint32_t* slots, size_t count);

  // Called by the queue as it hands a queued slot to JavaScript: the cleanup
  // is now running (or about to), no longer counted as queued.
  void BeginDelivery(uint32_t slot);

  // Called by the queue after the JavaScript call that ran the slot's cleanup
  // has returned: deletes the slot's reference (finalized, kept until now so
  // that the finalizer does as little as possible) and the slot may now be
  // reused under a new generation. Slots
  // are not reused during that call, so JavaScript can still find the
  // cleanup of every slot in its batch, whatever it registers meanwhile.
  void Release(napi_env env, uint32_t slot);

  // Appends the slot and object of every registration still watching a live
  // object, for diagnostics (checkCleanups). The objects are returned
  // strongly, so the caller must drop them promptly.
  napi_status CollectLive(napi_env env, napi_value slots_out, napi_value targets_out);

  // From the environment cleanup hook on: finalizers only mark their slot
  // and queue nothing, since no JavaScript may run any more. The pages are
  // released here, while references may still be deleted; no word is written
  // after this. References are left to DeleteAllReferences.
  void BeginTeardown(napi_env env);

  // Last step, from the instance-data finalizer (every finalizer has run by
  // then): deletes the references that are still held.
  void DeleteAllReferences(napi_env env);

  size_t pending() const { return pending_; }
  size_t queued() const { return queued_; }

  static bool DecodeId(double id, uint32_t* slot, uint32_t* generation);

 private:
  // The values are part of the state words that JavaScript reads (lib/core.ts).
  enum class State : uint8_t {
    kFree = 0,        // on the free list
    kPending = 1,     // watching a live object; `ref` is set
    kQueued = 2,      // object found dead; cleanup handed to the queue, not yet
                      // run; `ref` is finalized but not yet deleted (also the
                      // state of a slot finalized during teardown)
    kDelivering = 3,  // handed to JavaScript in the current batch (same `ref`)
    kStopped = 4,     // stopped by JavaScript, object found dead since: `ref`
                      // is finalized, the slot waits for its `reap`
    kRetired = 5,     // generation exhausted; never reused
  };

  // A slot's generation and state in one word, `generation * 8 + state`: the
  // native slot's own word and the state word JavaScript reads are both this.
  static constexpr uint32_t kStateBits = 3;
  static constexpr uint32_t Pack(uint32_t generation, State state) {
    return generation << kStateBits | static_cast<uint32_t>(state);
  }

  // A slot's native half, 12 bytes: its reference, and its generation and
  // state packed in one word (Pack). The two live in separate arrays of a
  // page (a struct of both would be padded to 16 bytes: 4 bytes more per
  // registration).
  struct SlotPage {
    napi_ref ref[kPageSize] = {};
    uint32_t meta[kPageSize] = {};  // Pack(generation, state); 0: generation 0, kFree
  };

  // One slot, seen through its page: reads and writes go to the page, which
  // never moves, so a view stays valid across calls that allocate (the state
  // it reads may not: see the header comment).
  class Slot {
   public:
    Slot(napi_ref& ref, uint32_t& meta) : ref(ref), meta_(meta) {}
    napi_ref& ref;
    uint32_t generation() const { return meta_ >> kStateBits; }
    State state() const { return static_cast<State>(meta_ & ((1u << kStateBits) - 1)); }
    void set_state(State state) { meta_ = Pack(generation(), state); }
    void set_generation(uint32_t generation) { meta_ = Pack(generation, state()); }

   private:
    uint32_t& meta_;
  };

  // The Node-API finalizer of one registration. `data` is the slot index and
  // generation (FinalizerData: stored in the pointer itself, so a
  // registration allocates no native memory of its own beyond its slot),
  // `hint` is the Registry.
  static void OnCollected(napi_env env, void* data, void* hint);
  static void* FinalizerData(uint32_t slot, uint32_t generation);
  // False where a pointer has no room for the generation (32-bit).
  static bool DecodeFinalizerData(void* data, uint32_t* slot, uint32_t* generation);

  // Slots live in pages of kPageSize that never move: growing the table
  // copies nothing and wastes no capacity.
  Slot At(uint32_t slot) {
    SlotPage& page = *slot_pages_[slot >> kPageBits];
    const uint32_t index = slot & (kPageSize - 1);
    return Slot(page.ref[index], page.meta[index]);
  }
  uint32_t MetaOf(uint32_t slot) const {
    return slot_pages_[slot >> kPageBits]->meta[slot & (kPageSize - 1)];
  }

  bool AcquireSlot(napi_env env, uint32_t* slot, napi_status* status);
  void FreeSlot(uint32_t slot);
  // Asks JavaScript for pages until `count` slots have a word.
  napi_status EnsurePages(napi_env env, size_t count);
  // Stops using the pages and drops the references to them and to the
  // provider: the words are off from here on.
  void ReleasePages(napi_env env);
  // The slot's word, or nullptr when the words are off.
  int32_t* WordOf(uint32_t slot) const;
  // Writes slot's (generation, state) word, when the words are on.
  void Mirror(uint32_t slot);
  // True when JavaScript has stopped this pending slot through its word.
  bool StoppedByJs(uint32_t slot) const;

  Queue* const queue_;
  std::vector<std::unique_ptr<SlotPage>> slot_pages_;
  uint32_t slot_count_ = 0;  // slots ever handed out: [0, slot_count_) exist
  std::vector<uint32_t> free_;
  napi_ref new_page_ = nullptr;      // the page provider; set while the words are on
  std::vector<int32_t*> pages_;      // word storage, one pointer per page
  std::vector<napi_ref> page_refs_;  // what keeps each page's buffer alive
  size_t pending_ = 0;
  size_t queued_ = 0;
  bool tearing_down_ = false;
};

}  // namespace addcleanup

#endif  // ADDCLEANUP_REGISTRY_H_
