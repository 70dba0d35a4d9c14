// The benchmark harness still works: `bench/run.sh --smoke` (~10 s) publishes and delivers
// through Sluice on local workerd with tiny numbers and exits 0 only if throughput is
// non-zero, every published event arrived and the counting entry's counters moved. It times
// nothing: the figures it prints are not asserted.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from './helpers/sluice.mjs';

test('bench/run.sh --smoke: the harness measures, and every event arrives', { timeout: 180_000 }, async () => {
  const { code, stdout, stderr } = await new Promise((resolve) => {
    execFile('bash', [path.join(REPO_ROOT, 'bench', 'run.sh'), '--smoke'], {
      cwd: REPO_ROOT, env: { ...process.env, SLUICE_SKIP_BUILD: '1' }, timeout: 170_000, maxBuffer: 16 * 1024 * 1024,
    }, (err, out, errOut) => resolve({ code: err ? (err.code ?? 1) : 0, stdout: out, stderr: errOut }));
  });
  assert.equal(code, 0, `smoke failed:\n${stderr.slice(-3000)}`);
  assert.match(stderr, /smoke OK/);
  // The tables it prints: the baseline row and the end-to-end row with all events arrived.
  assert.match(stdout, /\| baseline: the load generator straight to the receiver \| [\d,]+ \|/);
  const row = stdout.split('\n').find((l) => l.startsWith('| 1 destination, max_in_flight 1 |') && l.includes(' / '));
  assert.ok(row, stdout);
  const [arrived, expected] = row.split('|').at(-2).trim().split(' / ').map(Number);
  assert.ok(expected > 0 && arrived === expected, row);
});
