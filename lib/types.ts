// The public option and result types, apart from lib/index.ts so that the
// engine's layer (lib/core.ts) can name them without importing the API.

/** Options of {@link drainCleanups}. */
export interface DrainOptions {
  /** How long to wait at most, in milliseconds (default 10,000). */
  timeoutMs?: number;
}

/** The counters returned by {@link cleanupStats}. */
export interface CleanupStats {
  /** Registered, object not yet found dead, not stopped. */
  pending: number;
  /** Object found dead, cleanup not yet run. */
  queued: number;
  /**
   * Async cleanups (those that returned a promise or other thenable) called
   * and not yet settled.
   */
  running: number;
  /**
   * Cleanups called since the package was loaded, once each, when called:
   * those that threw and those still running included.
   */
  executed: number;
  /** Registrations cancelled by `stop()` since the package was loaded. */
  stopped: number;
  /** Cleanups that threw, or whose promise rejected, since the package was loaded. */
  failed: number;
}
