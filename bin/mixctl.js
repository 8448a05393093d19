#!/usr/bin/env node
'use strict';
require('../dist/src/cli/mixctl.js')
  .main(process.argv)
  .then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`mixctl: ${err && err.stack ? err.stack : err}\n`);
      process.exitCode = 1;
    },
  );
