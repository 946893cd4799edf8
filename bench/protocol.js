'use strict';
// The one line a child prints on stdout for the orchestrator: this prefix,
// then a JSON object.
module.exports = { RESULT_PREFIX: '@@bench-result ' };
