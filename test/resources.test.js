'use strict';
// The main use case: releasing a real operating-system resource (a file
// descriptor, a temporary file) owned by an object some time after the object
// is collected, and not releasing it twice when the owner closed it already.
// Linux only: descriptors are counted through /proc/self/fd.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { addCleanup } = require('..');
const { inScope, until, settle, needs } = require('./helpers');

const PROC_FD = '/proc/self/fd';

// Descriptor numbers currently open in this process. readdirSync opens a
// descriptor of its own for the listing; it is closed again, and it is
// counted the same way in every call, so differences stay exact.
function openFds() {
  return fs.readdirSync(PROC_FD).map(Number);
}

// fd -> number of times a cleanup closed it.
const cleanupCloses = new Map();

function closeFd(fd) {
  fs.closeSync(fd);
  cleanupCloses.set(fd, (cleanupCloses.get(fd) || 0) + 1);
}

let tmpDir;
let tmpFile;

// An object that owns a file descriptor. The cleanup gets the number only
// (not `this`): it must not keep the object reachable.
class FdHandle {
  constructor(file) {
    this.fd = fs.openSync(file, 'r');
    this.handle = addCleanup(this, closeFd, this.fd);
  }

  // Explicit close: the owner releases the descriptor itself and cancels the
  // cleanup, so that it can never close the number a second time (by then
  // perhaps reused by an unrelated file).
  close() {
    fs.closeSync(this.fd);
    return this.handle.stop();
  }
}

function assertClosed(fd) {
  assert.throws(() => fs.fstatSync(fd), { code: 'EBADF' }, `fd ${fd} is still open`);
}

function sumCloses(fds) {
  let total = 0;
  for (const fd of fds) total += cleanupCloses.get(fd) || 0;
  return total;
}

describe('real resources: file descriptors and temporary files (the README use case)', function () {
  before(function () {
    needs(this, 'procfs');
    // Elsewhere, fail loudly rather than skip.
    assert.ok(
      fs.existsSync(PROC_FD),
      `${PROC_FD} does not exist on this platform (${process.platform}): ` +
        'the file-descriptor tests need Linux procfs to count open descriptors',
    );
    tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'addcleanup-resources-'));
    fs.writeFileSync(path.join(tmpDir, 'data.txt'), 'data');
    // The real path, as /proc/self/fd/<n> links show it (os.tmpdir() may be
    // reached through a symlink).
    tmpFile = fs.realpathSync(path.join(tmpDir, 'data.txt'));
  });

  after(function () {
    if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
  });

  beforeEach(function () {
    cleanupCloses.clear();
  });

  it('500 FdHandle objects open 500 real descriptors; after they die every descriptor is closed exactly once by its cleanup', async function () {
    const baseline = openFds().length;
    // A control object that stays alive: its descriptor must stay open.
    const survivor = new FdHandle(tmpFile);

    try {
      // Allocated in a separate frame; only the numbers come back.
      const fds = inScope(() => {
        const handles = [];
        for (let i = 0; i < 500; i++) handles.push(new FdHandle(tmpFile));
        return handles.map((h) => h.fd);
      });

      assert.equal(openFds().length, baseline + 501, '500 descriptors (plus the survivor) are open');
      const open = new Set(openFds());
      for (const fd of fds) {
        assert.ok(open.has(fd), `fd ${fd} is listed in ${PROC_FD}`);
        assert.equal(fs.readlinkSync(`${PROC_FD}/${fd}`), tmpFile, `fd ${fd} points at the temp file`);
      }
      assert.equal(sumCloses(fds), 0, 'nothing closed while the objects were alive');

      await until(() => openFds().length === baseline + 1, {
        rounds: 100,
        what: 'the descriptor count back to the baseline',
      });
      await settle(2);

      assert.equal(openFds().length, baseline + 1);
      assert.equal(sumCloses(fds), 500, '500 cleanups closed 500 descriptors');
      for (const fd of fds) {
        assert.equal(cleanupCloses.get(fd), 1, `fd ${fd} closed exactly once`);
        assertClosed(fd);
      }
      // The live object's descriptor was left alone.
      assert.equal(cleanupCloses.get(survivor.fd), undefined);
      assert.equal(fs.readlinkSync(`${PROC_FD}/${survivor.fd}`), tmpFile);
      assert.equal(survivor.close(), true, 'the survivor was still pending');
      assertClosed(survivor.fd);
    } finally {
      // If an assertion failed first: the survivor's cleanup must not fire in
      // a later test and close a descriptor number reused by then.
      if (survivor.handle.stop()) fs.closeSync(survivor.fd);
    }
  });

  it('FdHandle objects closed explicitly (close() + stop() === true) are never closed again by their cleanup; the others are', async function () {
    const baseline = openFds().length;

    const { explicit, dropped, stops } = inScope(() => {
      const handles = [];
      for (let i = 0; i < 200; i++) handles.push(new FdHandle(tmpFile));
      // Every other handle is closed by its owner while still reachable, as
      // Cleanup.stop() requires for a guaranteed cancellation.
      const explicitFds = [];
      const droppedFds = [];
      const results = [];
      handles.forEach((h, i) => {
        if (i % 2 === 0) {
          results.push(h.close());
          explicitFds.push(h.fd);
        } else {
          droppedFds.push(h.fd);
        }
      });
      return { explicit: explicitFds, dropped: droppedFds, stops: results };
    });

    assert.equal(stops.length, 100);
    assert.ok(stops.every((r) => r === true), 'every stop() of a live object returned true');
    for (const fd of explicit) assertClosed(fd);
    assert.equal(openFds().length, baseline + 100, '100 descriptors still open');

    await until(() => sumCloses(dropped) === 100, { rounds: 100, what: '100 cleanups of dropped handles' });
    // Long enough for any wrongly kept registration of the explicitly closed
    // handles to show up; it would close an already closed descriptor (EBADF
    // thrown from the cleanup, reported as an uncaught exception) and count.
    await settle(6);

    assert.equal(sumCloses(explicit), 0, 'no cleanup ran for an explicitly closed handle');
    for (const fd of dropped) {
      assert.equal(cleanupCloses.get(fd), 1, `fd ${fd} closed exactly once`);
      assertClosed(fd);
    }
    assert.equal(openFds().length, baseline, 'back to the baseline');
  });

  it('a cleanup deletes the temporary file owned by an object that died; files of live objects stay', async function () {
    let deleted = 0;
    const removeFile = (file) => {
      fs.unlinkSync(file);
      deleted++;
    };
    class TempFile {
      constructor(name) {
        this.path = path.join(tmpDir, name);
        fs.writeFileSync(this.path, name);
        this.handle = addCleanup(this, removeFile, this.path);
      }
    }

    const kept = new TempFile('kept.tmp');
    try {
      const files = inScope(() => {
        const temps = [];
        for (let i = 0; i < 50; i++) temps.push(new TempFile(`dropped-${i}.tmp`));
        return temps.map((t) => t.path);
      });
      for (const file of files) assert.ok(fs.existsSync(file), `${file} exists while its owner lives`);

      await until(() => deleted === 50, { rounds: 100, what: '50 temporary files deleted' });
      await settle(2);

      assert.equal(deleted, 50);
      for (const file of files) assert.equal(fs.existsSync(file), false, `${file} was deleted`);
      assert.ok(fs.existsSync(kept.path), 'the file of the live object is still there');
      assert.equal(fs.readFileSync(kept.path, 'utf8'), 'kept.tmp');
      // Still pending: stop() cancels it.
      assert.equal(kept.handle.stop(), true);
    } finally {
      // Whatever happened above, the kept file's cleanup must not fire in a
      // later test, after after() removed the directory.
      kept.handle.stop();
      fs.rmSync(kept.path, { force: true });
    }
  });
});
