#!/usr/bin/env node
// Round trip of one `commands.run('true')` of the official E2B SDK through
// `sbx serve e2b`'s envd (local backend), with two floors measured in the
// same run: the face's HTTP round trip (envd GET /health over the same route)
// and the command itself (`bash -l -c true` spawned on the host). Measured, never
// asserted (tests/bench/README.md). Needs the SDK: make sdk-deps.
//
// usage: node tests/bench/e2b_bench.mjs [path/to/sbx]
// env:   SBX_CLI (else argv[2], else build/release/sbx, else build/debug/sbx),
//        SBX_BENCH_N (default 300), SBX_BENCH_WARMUP (default 30),
//        SBX_SERVER (the sbx-server for the local backend, optional)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { Sandbox, startFace } from '../sdk/e2b/lib.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const cli = process.env.SBX_CLI || process.argv[2]
  || [join(root, 'build/release/sbx'), join(root, 'build/debug/sbx')].find((p) => existsSync(p));
const N = Number(process.env.SBX_BENCH_N || 300);
const WARMUP = Number(process.env.SBX_BENCH_WARMUP || 30);

// nearest-rank percentile of sorted samples (ms)
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];

async function measure(fn) {
  for (let i = 0; i < WARMUP; i++) await fn();
  const t = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    await fn();
    t.push(performance.now() - t0);
  }
  return t.sort((a, b) => a - b);
}

async function main() {
  if (!cli || !existsSync(cli)) {
    console.error('e2b_bench: no sbx binary (pass its path, set SBX_CLI, or build a preset)');
    return 2;
  }
  const state = mkdtempSync(join(tmpdir(), 'sbx-e2b-bench.'));
  const key = `e2b_${randomBytes(20).toString('hex')}`;
  const env = { SBX_STATE_DIR: state };
  if (process.env.SBX_SERVER) env.SBX_SERVER_BIN = process.env.SBX_SERVER;
  let f;
  let sbx;
  try {
    f = await startFace({ cli, env, args: ['--api-key', key] });
    Object.assign(process.env, {
      E2B_API_URL: f.url, E2B_SANDBOX_URL: f.url, E2B_DOMAIN: `localhost:${f.port}`, E2B_API_KEY: key,
    });
    sbx = await Sandbox.create('base', { timeoutMs: 600_000 });
    const run = await measure(async () => {
      const r = await sbx.commands.run('true');
      if (r.exitCode !== 0) throw new Error(`commands.run('true') exited ${r.exitCode}`);
    });
    const health = await measure(async () => {
      const res = await fetch(`${f.url}/health`, {
        headers: { 'E2b-Sandbox-Id': sbx.sandboxId, 'E2b-Sandbox-Port': '49983' },
      });
      await res.arrayBuffer();
      if (res.status !== 204 && res.status !== 200) throw new Error(`GET /health: ${res.status}`);
    });
    // what the command itself costs: envd runs every command as bash -l -c
    const home = join(state, 'empty-home');
    mkdirSync(home);
    const bash = await measure(async () => {
      // an empty HOME, like the sandbox's /home/user (the host's ~/.profile
      // may load a lot)
      const r = spawnSync('/bin/bash', ['-l', '-c', 'true'],
        { stdio: 'ignore', env: { HOME: home, PATH: '/usr/local/bin:/usr/bin:/bin' } });
      if (r.status !== 0) throw new Error(`bash -l -c true exited ${r.status}`);
    });
    const rows = [
      ["commands.run('true') via sbx serve e2b (local)", run],
      ['envd GET /health via the face (HTTP floor)', health],
      ['host: spawn bash -l -c true, empty HOME (command floor)', bash],
    ];
    const w = Math.max(...rows.map(([name]) => name.length));
    console.log(`e2b bench: ${cli}, n=${N} (after ${WARMUP} warm-up), times in ms`);
    console.log(`${'what'.padEnd(w)}  ${'p50'.padStart(8)}  ${'p99'.padStart(8)}  ${'max'.padStart(8)}`);
    for (const [name, t] of rows)
      console.log(`${name.padEnd(w)}  ${pct(t, 50).toFixed(2).padStart(8)}  ${pct(t, 99).toFixed(2).padStart(8)}  ${t[t.length - 1].toFixed(2).padStart(8)}`);
    return 0;
  } catch (e) {
    console.error(`e2b_bench: ${e.message}`);
    return 1;
  } finally {
    if (sbx) await sbx.kill().catch(() => {});
    if (f) await f.stop();
    rmSync(state, { recursive: true, force: true });
  }
}

process.exitCode = await main();
