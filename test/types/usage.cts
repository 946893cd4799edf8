// Type tests for the CommonJS entry, compiled by `tsc -p test/types` from
// test/types.test.js. Lines marked @ts-expect-error must NOT compile: if one
// of them starts compiling, tsc reports the unused directive and the test fails.
import fs = require('node:fs');
import { addCleanup, AddCleanup, Cleanup } from 'addcleanup';

// Correct uses compile, and arg's type flows into the cleanup's parameter.
class FdOwner {
  readonly fd: number = fs.openSync('/dev/null', 'r');
  readonly cleanup: Cleanup = addCleanup(this, (fd) => fs.closeSync(fd), this.fd);
}
void new FdOwner();

const handle: Cleanup = addCleanup({}, (name: string) => console.log(name), 'label');
const stopped: boolean = handle.stop();
void stopped;

addCleanup([1, 2, 3], (n) => {
  const k: number = n;
  void k;
}, 42);
addCleanup(() => {}, (x: { path: string }) => fs.rmSync(x.path, { force: true }), { path: '/tmp/x' });
addCleanup(new Map<string, number>(), () => {}, undefined);
AddCleanup(new Uint8Array(8), (buf: ArrayBuffer) => void buf.byteLength, new ArrayBuffer(8));
const alias: typeof addCleanup = AddCleanup;
void alias;

// A primitive ptr does not compile.
// @ts-expect-error ptr must be an object or function
addCleanup(1, () => {}, 0);
// @ts-expect-error ptr must be an object or function
addCleanup('str', () => {}, 0);
// @ts-expect-error ptr must be an object or function
addCleanup(null, () => {}, 0);
// @ts-expect-error ptr must be an object or function
addCleanup(undefined, () => {}, 0);
// @ts-expect-error ptr must be an object or function
addCleanup(Symbol('s'), () => {}, 0);

// A cleanup that is not a function does not compile.
// @ts-expect-error cleanup must be a function
addCleanup({}, 'close', 0);
// @ts-expect-error cleanup must be a function
addCleanup({}, { call() {} }, 0);

// An arg whose type does not match the cleanup's parameter does not compile.
// @ts-expect-error arg must match the cleanup's parameter
addCleanup({}, (fd: number) => fs.closeSync(fd), 'not a number');
// @ts-expect-error arg must match the cleanup's parameter
addCleanup({}, (x: { path: string }) => void x, { file: '/tmp/x' });
// @ts-expect-error the cleanup takes one argument: arg is required
addCleanup({}, (fd: number) => fs.closeSync(fd));

// Cleanup handles come only from addCleanup.
// @ts-expect-error the constructor is private
new Cleanup();
// @ts-expect-error stop() returns a boolean, not a promise
handle.stop().then(() => {});

// Async cleanups: a cleanup may return a promise (issue 13).
import fsp = require('node:fs/promises');
import { cleanupStats, drainCleanups, type CleanupStats, type CleanupTraceContext } from 'addcleanup';
declare const fileHandle: fsp.FileHandle;
addCleanup({}, (h) => h.close(), fileHandle);
addCleanup({}, async (path: string) => fsp.rm(path, { force: true }), '/tmp/x');
const stats: CleanupStats = cleanupStats();
const running: number = stats.running;
void running;
const drained: Promise<boolean> = drainCleanups({ timeoutMs: 100 });
void drained;
// @ts-expect-error the counters are numbers
const notANumber: string = stats.running;
void notANumber;

// The tracing channel's context.
import diagnosticsChannel = require('node:diagnostics_channel');
const channel = diagnosticsChannel.tracingChannel<unknown, CleanupTraceContext>('addcleanup:cleanup');
channel.subscribe({
  start(context) {
    const waited: number = context.waitedMs;
    const fn: Function = context.cleanup;
    void [waited, fn, context.arg];
  },
  end(context) {
    void context.result;
  },
  asyncStart() {},
  asyncEnd() {},
  error(context) {
    void context.error;
  },
});
declare const traced: CleanupTraceContext;
// @ts-expect-error waitedMs is read-only
traced.waitedMs = 0;

// The handle is Disposable and AsyncDisposable: `using`, `await using` and
// DisposableStack take it, and the two methods have their types.
const disposable: Disposable = addCleanup({}, () => {}, 0);
const asyncDisposable: AsyncDisposable = addCleanup({}, async () => {}, 0);
void [disposable, asyncDisposable];
const none: void = addCleanup({}, () => {}, 0)[Symbol.dispose]();
const later: Promise<void> = addCleanup({}, () => {}, 0)[Symbol.asyncDispose]();
void [none, later];
function scoped(): void {
  using handle = addCleanup({}, (path: string) => fs.rmSync(path, { force: true }), '/tmp/x');
  void handle;
}
async function scopedAsync(): Promise<void> {
  await using handle = addCleanup({}, async (path: string) => fs.promises.rm(path, { force: true }), '/tmp/y');
  void handle;
}
void scoped;
void scopedAsync;
