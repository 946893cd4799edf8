// The ES module entry point. It re-exports the CommonJS build, so that
// `import` and `require` share one instance of the addon (and one set of
// registrations) per thread.
export {
  addCleanup,
  AddCleanup,
  Cleanup,
  checkCleanups,
  cleanupStats,
  drainCleanups,
  engine,
} from './index.js';
export type {
  CleanupStats,
  CleanupTraceContext,
  CodedError,
  DrainOptions,
  EngineName,
  UnrunnableCleanup,
} from './index.js';
