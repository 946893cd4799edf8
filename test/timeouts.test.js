'use strict';
// Long timeouts mean "wait that long". Node's timers take at most 2^31-1 ms
// and fire after 1 ms for anything longer (with a TimeoutOverflowWarning), so
// drainCleanups() and collect() arm such waits in steps instead.
//
// No test sleeps and hopes: a timer that fires after 20 ms fires after any
// timer due sooner (libuv runs timers in order of expiry), so once it has
// fired, a wait wrongly clamped to 1 ms would have given up already.
const assert = require('node:assert/strict');
const { requireGc, inScope, withOnlyListener, startPending } = require('./helpers');
const { addCleanup, drainCleanups, cleanupStats } = require('..');
const testing = require('addcleanup/testing');

requireGc();

const after20ms = () => new Promise((resolve) => setTimeout(resolve, 20));
const LONG_TIMEOUTS = [2 ** 31, 2 ** 32, 1e12, Number.MAX_VALUE];

describe('timeouts beyond 2^31-1 ms', function () {
  for (const timeoutMs of LONG_TIMEOUTS) {
    it(`drainCleanups({ timeoutMs: ${timeoutMs} }) keeps waiting past 20 ms for a running cleanup, resolves true when it settles, and warns nothing`, async function () {
      assert.equal(await drainCleanups(), true);
      await withOnlyListener('warning', async (warnings) => {
        const { resolve: settle } = await startPending();
        let answer;
        const draining = drainCleanups({ timeoutMs }).then((value) => (answer = value));
        await after20ms();
        assert.equal(answer, undefined, 'drainCleanups() gave up at once');
        assert.equal(cleanupStats().running, 1);
        settle();
        await draining;
        assert.equal(answer, true);
        assert.deepEqual(
          warnings.map(({ value }) => value.name),
          [],
        );
      });
    });
  }

  it('collect({ timeoutMs: 2 ** 32 }) waits for async cleanups that take 20 ms, and counts them', async function () {
    await testing.collect();
    let released = 0;
    inScope(() => {
      for (let i = 0; i < 3; i++) {
        addCleanup(
          {},
          async () => {
            await after20ms();
            released++;
          },
          i,
        );
      }
    });
    assert.equal(await testing.collect({ timeoutMs: 2 ** 32 }), 3);
    assert.equal(released, 3, 'collect() stopped waiting before the cleanups settled');
  });

  it('a short timeout still gives up: drainCleanups({ timeoutMs: 5 }) resolves false while a cleanup runs', async function () {
    const { resolve: settle } = await startPending();
    assert.equal(await drainCleanups({ timeoutMs: 5 }), false);
    settle();
    assert.equal(await drainCleanups(), true);
  });
});
