// The ES module entry of addcleanup/testing: re-exports the CommonJS build,
// so that it shares the one instance of the addon with 'addcleanup'.
export { collect } from './testing.js';
