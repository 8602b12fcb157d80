// Reference encoder for the differential test: reads a JSON array of strings (argv[2]) and
// prints a JSON array of id arrays from the npm package gpt-3-encoder (its dir is argv[3]).
// Not our tokenizer and not a decoder; JS strings are UTF-16, so inputs must be valid Unicode.
'use strict';
const fs = require('fs');
const path = require('path');

function main() {
  if (process.argv.length < 4) {
    process.stderr.write('usage: node gpt2_encode.js <strings.json> <gpt-3-encoder dir>\n' +
        'hint: run scripts/setup_tokenizer.sh; the package lands in ' +
        'data/tokenizer/node_modules/gpt-3-encoder\n');
    process.exit(2);
  }
  const pkg = require(path.resolve(process.argv[3]));
  const inputs = JSON.parse(fs.readFileSync(process.argv[2], 'utf-8'));
  if (!Array.isArray(inputs) || inputs.some(s => typeof s !== 'string')) {
    process.stderr.write('error: ' + process.argv[2] + ' is not a JSON array of strings\n');
    process.exit(2);
  }
  // Encoder.js looks merges up by pair.toString() and ids by token; an id it cannot find comes
  // back undefined, which JSON.stringify writes as null: the C++ side reports it as a mismatch.
  process.stdout.write(JSON.stringify(inputs.map(s => pkg.encode(s))));
  process.stdout.write('\n');
}

main();
