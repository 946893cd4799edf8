'use strict';
// The plan of a worker-churn run, drawn from the run's seed: for each worker,
// when and how the main thread ends it, its throw mode, its waves of dying
// objects and its own seed (worker.js draws from it).

// How the main thread ends a worker:
//   immediate  worker.terminate() right after new Worker();
//   delay      worker.terminate() after a random delay (0 to 800 ms);
//   message    worker.terminate() upon a random one of its progress messages
//              (some are posted from inside cleanups, mid-delivery);
//   never      the worker is left to exit by itself (or to die of its
//              unhandled throwing cleanup).
const MOMENTS = ['immediate', 'delay', 'message', 'never'];
// 'handled': throwing cleanups under an 'uncaughtException' listener;
// 'unhandled': without one, in one wave only (the worker dies of it).
const THROW_MODES = ['none', 'handled', 'unhandled', 'none', 'handled'];

function planWaves(rand) {
  const waves = [];
  const nWaves = rand.int(3, 6);
  const bigWave = rand() < 0.25 ? rand.int(0, nWaves - 1) : -1;
  for (let w = 0; w < nWaves; w++) {
    const size = w === bigWave ? rand.int(8000, 20000) : rand.int(300, 3000);
    waves.push({
      size,
      minor: rand() < 0.4,
      stopAfterDrop: rand() < 0.5 ? rand.int(0, Math.floor(size / 10)) : 0,
      wait: rand.pick(['none', 'turn', 'timer', 'drain']),
      ms: rand.int(0, 10),
    });
  }
  return waves;
}

function planWorker(rand, i) {
  const waves = planWaves(rand);
  const nWaves = waves.length;
  const totalDying = waves.reduce((s, w) => s + w.size, 0);
  return {
    index: i,
    seed: Math.floor(rand() * 2 ** 32),
    moment: MOMENTS[i % MOMENTS.length],
    throwMode: THROW_MODES[Math.floor(i / MOMENTS.length) % THROW_MODES.length],
    live: rand.int(1000, 4000),
    stopped: rand.int(500, 2000),
    waves,
    throwWave: rand.int(0, nWaves - 1), // 'unhandled': the only wave with throwing cleanups
    throwRate: 0.002 + rand() * 0.01,
    addRate: rand() * 0.03,
    stopRate: rand() * 0.03,
    gcRate: rand() * 0.0005,
    delayMs: Math.floor(rand() * 800),
    // Progress messages: 'setup', then 'gc' and 'wave' per wave, plus one
    // per 500 cleanups run.
    atMessage: rand.int(1, 1 + 2 * nWaves + Math.floor(totalDying / 500)),
  };
}

// Termination moments and throw modes are spread evenly (then shuffled), so
// that every combination shows up in a run of 20 workers or more.
function makePlan(rand, workers) {
  const plan = [];
  for (let i = 0; i < workers; i++) plan.push(planWorker(rand, i));
  for (let i = plan.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [plan[i], plan[j]] = [plan[j], plan[i]];
  }
  for (let i = 0; i < plan.length; i++) plan[i].index = i;
  return plan;
}

module.exports = { MOMENTS, makePlan };
