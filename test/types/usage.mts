// Type tests for the ES module entry (same rules as usage.cts).
import { addCleanup, AddCleanup, Cleanup } from 'addcleanup';

const handle: Cleanup = addCleanup({}, (n: number) => void n, 1);
const same: typeof addCleanup = AddCleanup;
void same;
void handle.stop();

// @ts-expect-error ptr must be an object or function
addCleanup(42, () => {}, 0);
// @ts-expect-error arg must match the cleanup's parameter
addCleanup({}, (n: number) => void n, 'one');

import type { CleanupStats, CleanupTraceContext } from 'addcleanup';
import { cleanupStats } from 'addcleanup';
const stats: CleanupStats = cleanupStats();
const waited = (context: CleanupTraceContext): number => context.waitedMs + stats.running;
void waited;
addCleanup({}, async (n: number) => void n, 1);

// The ESM declarations: the handle is Disposable and AsyncDisposable too.
const disposableEsm: Disposable & AsyncDisposable = handle;
void disposableEsm;
{
  using scopedHandle = addCleanup({}, (n: number) => void n, 2);
  void scopedHandle;
}
await (async () => {
  await using scopedAsync = addCleanup({}, async (n: number) => void n, 3);
  void scopedAsync;
})();
