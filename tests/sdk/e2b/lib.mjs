// Shared helpers of the E2B SDK scenarios (tests/sdk/e2b/*.test.mjs) and of
// tests/bench/e2b_bench.mjs: the face under test, sandbox bookkeeping, polling,
// and plain HTTP to a sandbox's user port.
//
// The scenarios expect run-e2b.sh's environment: E2B_API_URL, E2B_SANDBOX_URL,
// E2B_DOMAIN and E2B_API_KEY aimed at one `sbx serve e2b`.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import dns from 'node:dns';
import http from 'node:http';
import net from 'node:net';
import readline from 'node:readline';
import { Sandbox } from 'e2b';

export * from 'e2b';

/** The face's base URL and port, from E2B_API_URL (set by run-e2b.sh). */
export function face() {
  const url = process.env.E2B_API_URL;
  if (!url || !process.env.E2B_SANDBOX_URL || !process.env.E2B_API_KEY)
    throw new Error('E2B_API_URL, E2B_SANDBOX_URL and E2B_API_KEY must be set: run tests/sdk/run-e2b.sh');
  const u = new URL(url);
  return { url, host: u.hostname, port: Number(u.port) };
}

/** A tag unique to this process, put in every sandbox's metadata so list
 * queries only see this run's sandboxes. */
export const RUN_TAG = `sdk-${process.pid}-${Date.now().toString(36)}`;

const created = new Set();

/** Sandbox.create with the suite's tag in the metadata; remembered so
 * killCreated() can remove it even when a test fails half-way. */
export async function createSandbox(opts = {}) {
  const sbx = await Sandbox.create('base', {
    timeoutMs: 300_000,
    ...opts,
    metadata: { suite: RUN_TAG, ...(opts.metadata ?? {}) },
  });
  created.add(sbx.sandboxId);
  return sbx;
}

/** Kills every sandbox createSandbox made (after() hooks). Errors are
 * collected and thrown at the end so a failed kill is reported. */
export async function killCreated() {
  const errors = [];
  for (const id of created) {
    try {
      await Sandbox.kill(id);
    } catch (e) {
      errors.push(`${id}: ${e.message}`);
    }
    created.delete(id);
  }
  if (errors.length) throw new Error(`kill failed: ${errors.join('; ')}`);
}

/** Forget a sandbox the test killed itself. */
export function forget(id) {
  created.delete(id);
}

/** Asserts that promise rejects with an instance of cls; returns the error
 * for further checks. The message names what was expected and what came. */
export async function rejectsWith(promise, cls, what) {
  let value;
  try {
    value = await promise;
  } catch (e) {
    assert.ok(e instanceof cls,
      `${what}: expected ${cls.name}, got ${e?.constructor?.name}: ${e?.message}`);
    return e;
  }
  assert.fail(`${what}: expected ${cls.name}, but it resolved with ${JSON.stringify(value)}`);
}

/** Polls fn until it returns a truthy value (returned) or timeoutMs passes
 * (then fails naming what). Exceptions from fn count as "not yet". */
export async function waitFor(fn, what, { timeoutMs = 15_000, intervalMs = 100 } = {}) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end)
      assert.fail(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A TCP port nothing listens on right now (the local backend shares the
 * host's network, so a sandbox's server must pick a free host port). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// glibc's getaddrinfo (what Node's dns.lookup uses) does not resolve
// "<port>-<id>.localhost:P"; browsers and libcurl map *.localhost to loopback
// themselves (RFC 6761). This lookup does the same, so the URL and its Host
// header stay exactly what getHost() returned.
function localhostLookup(hostname, options, cb) {
  if (hostname === 'localhost' || hostname.endsWith('.localhost')) {
    if (options && options.all) return cb(null, [{ address: '127.0.0.1', family: 4 }]);
    return cb(null, '127.0.0.1', 4);
  }
  return dns.lookup(hostname, options, cb);
}

/** GET url with node:http, *.localhost resolved to 127.0.0.1. Resolves
 * {status, headers, body (string)}. */
export function httpGet(url, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, lookup: localhostLookup, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({
        status: res.statusCode,
        headers: res.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      }));
      res.on('error', reject);
    });
    req.setTimeout(20_000, () => req.destroy(new Error(`GET ${url}: no answer in 20 s`)));
    req.on('error', reject);
  });
}

/** Starts `<cli> serve e2b --port 0 ...` (for the benchmark; run-e2b.sh does
 * the same in bash for the suite). Resolves {url, port, child, stop()}. */
export function startFace({ cli, env = {}, args = [] }) {
  return new Promise((resolve, reject) => {
    const child = spawn(cli, ['serve', 'e2b', '--port', '0', ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cli} serve e2b printed no listening line within 30 s`));
    }, 30_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`${cli} serve e2b exited (${code ?? sig}) before listening`));
    });
    const rl = readline.createInterface({ input: child.stdout });
    rl.on('line', (line) => {
      const m = /^sbx serve e2b: listening on (http:\/\/127\.0\.0\.1:(\d+))$/.exec(line);
      if (!m) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      resolve({
        url: m[1],
        port: Number(m[2]),
        child,
        stop: () => new Promise((res) => {
          if (child.exitCode !== null || child.signalCode !== null)
            return res({ code: child.exitCode, signal: child.signalCode });
          child.once('exit', (code, signal) => res({ code, signal }));
          child.kill('SIGTERM');
        }),
      });
    });
  });
}
