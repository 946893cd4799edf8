'use strict';
// tools/pack.js takes the prebuilds to publish from a folder (CI's, one
// sub-folder per target): what it accepts, how it names each one in the
// tarball for node-gyp-build, and what it refuses. The whole tarball, as
// users install it: tarball.test.js.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { ROOT } = require('./helpers');
const { prebuildMember, readPrebuilds } = require('../tools/pack');

// The smallest headers describeBinary() reads: a thin 64-bit Mach-O file and
// a PE file, each for `arch`.
function machO(arch) {
  const bytes = Buffer.alloc(64);
  bytes.writeUInt32LE(0xfeedfacf, 0);
  bytes.writeUInt32LE(arch === 'arm64' ? 0x0100000c : 0x01000007, 4);
  return bytes;
}
function pe(arch) {
  const bytes = Buffer.alloc(128);
  bytes.write('MZ', 0, 'latin1');
  bytes.writeUInt32LE(64, 0x3c);
  bytes.write('PE\0\0', 64, 'latin1');
  bytes.writeUInt16LE(arch === 'arm64' ? 0xaa64 : 0x8664, 68);
  return bytes;
}

describe('tools/pack.js: the prebuilds folder', function () {
  let dir;
  const release = path.join(ROOT, 'build', 'Release', 'addcleanup.node'); // ELF, x64, glibc (the pretest build)
  const add = (folder, name, bytes) => {
    fs.mkdirSync(path.join(dir, folder), { recursive: true });
    if (bytes) fs.writeFileSync(path.join(dir, folder, name), bytes);
  };
  beforeEach(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'addcleanup-prebuilds-'));
  });
  afterEach(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('names each target as node-gyp-build picks it: <platform>-<arch>/node.napi[.libc].node, glibc when a Linux folder has no tag', function () {
    assert.equal(prebuildMember('linux-x64').member, 'prebuilds/linux-x64/node.napi.glibc.node');
    assert.equal(prebuildMember('linux-x64-musl').member, 'prebuilds/linux-x64/node.napi.musl.node');
    assert.equal(prebuildMember('linux-arm64-glibc').member, 'prebuilds/linux-arm64/node.napi.glibc.node');
    assert.equal(prebuildMember('darwin-arm64').member, 'prebuilds/darwin-arm64/node.napi.node');
    assert.equal(prebuildMember('win32-x64').member, 'prebuilds/win32-x64/node.napi.node');
  });

  it('refuses a folder name node-gyp-build would never pick, with the reason', function () {
    assert.match(prebuildMember('linux').message, /not <platform>-<arch>\[-<libc>\]/);
    assert.match(prebuildMember('macos-arm64').message, /unknown platform "macos"/);
    assert.match(prebuildMember('linux-amd64').message, /unknown architecture "amd64"/);
    assert.match(prebuildMember('linux-x64-gnu').message, /unknown libc tag "gnu"/);
    assert.match(prebuildMember('darwin-arm64-musl').message, /libc tag is for Linux only/);
    assert.match(prebuildMember('linux-x64-musl-1').message, /not <platform>-<arch>/);
  });

  it('accepts one addcleanup.node per target whose header matches it (ELF, Mach-O, PE)', function () {
    add('linux-x64', 'addcleanup.node', fs.readFileSync(release));
    add('darwin-arm64', 'addcleanup.node', machO('arm64'));
    add('darwin-x64', 'addcleanup.node', machO('x64'));
    add('win32-x64', 'addcleanup.node', pe('x64'));
    const found = readPrebuilds(dir).map((p) => p.member);
    assert.deepEqual(found, [
      'prebuilds/darwin-arm64/node.napi.node',
      'prebuilds/darwin-x64/node.napi.node',
      'prebuilds/linux-x64/node.napi.glibc.node',
      'prebuilds/win32-x64/node.napi.node',
    ]);
  });

  it('refuses, listing every problem: a missing or extra file, the wrong format, architecture or libc, a target given twice', function () {
    add('win32-x64', 'addcleanup.pdb', Buffer.from('debug info'));
    add('darwin-x64', 'addcleanup.node', machO('arm64'));
    add('darwin-arm64', 'addcleanup.node', fs.readFileSync(release));
    add('linux-x64-musl', 'addcleanup.node', fs.readFileSync(release));
    add('linux-x64', 'addcleanup.node', fs.readFileSync(release));
    add('linux-x64-glibc', 'addcleanup.node', fs.readFileSync(release));
    add('linux-x64-gnu', 'addcleanup.node', fs.readFileSync(release));
    fs.writeFileSync(path.join(dir, 'README'), 'a stray file');
    let error;
    assert.throws(() => readPrebuilds(dir), (e) => (error = e) instanceof Error);
    const lines = [
      /README: not a folder/,
      /darwin-arm64\/addcleanup\.node: ELF for x64, not Mach-O for arm64/,
      /darwin-x64\/addcleanup\.node: Mach-O for arm64, not Mach-O for x64/,
      /linux-x64-glibc: the same target as .*linux-x64$/m,
      /linux-x64-gnu: "linux-x64-gnu": unknown libc tag "gnu"/,
      /linux-x64-musl\/addcleanup\.node: links glibc, not musl/,
      /win32-x64: no addcleanup\.node/,
      /win32-x64: unexpected addcleanup\.pdb/,
    ];
    // Paths as written on this platform (backslashes on Windows), read with slashes.
    for (const line of lines) assert.match(error.message.replaceAll("\\", "/"), line);
    assert.equal(error.message.split('\n').length, 1 + lines.length, error.message);
  });

  it('refuses an empty folder', function () {
    assert.throws(() => readPrebuilds(dir), /no prebuilds \(expected <platform>-<arch>\[-<libc>\]\/addcleanup\.node\)/);
  });
});
