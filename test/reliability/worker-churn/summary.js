'use strict';
// The human-readable summary of a worker-churn run, printed before its
// `RESULT <json>` line; everything it shows is in that JSON too.
const { MOMENTS } = require('./plan');
const { VIOLATIONS } = require('./shared');
const { WAVE } = require('./main-waves');

function printSummary(s, log) {
  const t = s.workerTotals;
  log(`workers created:             ${s.workers} (planned: ${MOMENTS.map((m) => `${m} ${s.planned[m]}`).join(', ')})`);
  log(
    `terminated:                  ${s.terminatedTotal} (${MOMENTS.filter((m) => m !== 'never')
      .map((m) => `${m} ${s.terminated[m]}`)
      .join(', ')}${s.terminated.never ? `, hang guard ${s.terminated.never}` : ''})`,
  );
  log(`exited naturally:            ${s.natural}`);
  log(`died with an uncaught error: ${s.uncaught}`);
  log(
    `phase at terminate():        ${Object.entries(s.phaseAtTerminate)
      .filter(([, n]) => n)
      .map(([p, n]) => `${p} ${n}`)
      .join(', ')}`,
  );
  log(
    `undelivered at terminate():  ${s.undeliveredAtTerminate.workers} workers had dying cleanups not yet run ` +
      `(${s.undeliveredAtTerminate.registrations} in all)`,
  );
  log(
    `worker registrations:        ${t.live} pending, ${t.stoppedLive} stopped while alive, ` +
      `${t.registered} dying (${t.ran} ran, ${t.stoppedDying} stopped after the drop), ` +
      `${t.thrown} threw (${t.caught} caught), re-entrant: ${t.reAdd} addCleanup, ` +
      `${t.reStop} stop, ${t.reGc} gc; ${t.messages} progress messages`,
  );
  log(`worker violations:           ${VIOLATIONS.map((v) => s.violations[v]).reduce((sum, n) => sum + n, 0)}`);
  log(
    `main thread cleanups:        expected ${s.main.expected} == actual ${s.main.actual} ` +
      `(${s.main.waves} waves of ${WAVE} + ${s.main.keptAlive.expected} kept alive until the end); ` +
      `${s.main.stopped} stopped, ${s.main.stoppedRan} of them ran; ` +
      `worst wave needed ${s.main.maxRoundsPerWave} gc rounds`,
  );
  log(`RSS:                         start ${s.rssMB.start} MB, peak ${s.rssMB.peak} MB, end ${s.rssMB.end} MB`);
  log(`time:                        ${s.seconds.toFixed(1)} s`);
}

module.exports = { printSummary };
