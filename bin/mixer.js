#!/usr/bin/env node
'use strict';
require('../dist/src/cli/mixer.js')
  .main(process.argv)
  .catch((err) => {
    process.stderr.write(`mixer: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  });
