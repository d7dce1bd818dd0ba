// Control plane through the official SDK: create, getInfo, list (metadata
// filter, state filter, pagination), setTimeout, TTL expiry, kill, errors.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  AuthenticationError, NotFoundError, RUN_TAG, Sandbox, SandboxNotFoundError,
  createSandbox, face, forget, killCreated, rejectsWith, waitFor,
} from './lib.mjs';

const ID_RE = /^[a-z0-9]{20}$/;
// A metadata value that needs both levels of the SDK's encoding (the filter
// is a query string sent as one query parameter).
const ODD_KEY = 'odd key&=';
const ODD_VALUE = 'a=b&c d/é%';

function near(actualMs, expectedMs, slackMs, what) {
  assert.ok(Math.abs(actualMs - expectedMs) <= slackMs,
    `${what}: ${actualMs} ms, expected ${expectedMs} ± ${slackMs} ms`);
}

describe('lifecycle', { timeout: 240_000 }, () => {
  let a; let b;

  before(async () => {
    a = await createSandbox({
      metadata: { role: 'a', [ODD_KEY]: ODD_VALUE },
      envs: { SBX_SDK_ENV: 'from-create' },
      timeoutMs: 300_000,
    });
    b = await createSandbox({ metadata: { role: 'b' }, timeoutMs: 300_000 });
  });
  after(killCreated);

  test('create returns an E2B sandbox id and the face\'s domain', () => {
    assert.match(a.sandboxId, ID_RE);
    assert.match(b.sandboxId, ID_RE);
    assert.notEqual(a.sandboxId, b.sandboxId);
    const { port } = face();
    assert.equal(a.sandboxDomain, `localhost:${port}`, 'domain of the Sandbox answer');
    assert.equal(a.getHost(8080), `8080-${a.sandboxId}.localhost:${port}`);
    assert.ok(a.envdAccessToken, 'POST /v2/sandboxes is always secured: envdAccessToken expected');
  });

  test('getInfo reports template, metadata, times, state and resources', async () => {
    const before = Date.now();
    const info = await a.getInfo();
    assert.equal(info.sandboxId, a.sandboxId);
    assert.equal(info.templateId, 'base');
    assert.deepEqual(info.metadata, { suite: RUN_TAG, role: 'a', [ODD_KEY]: ODD_VALUE });
    assert.equal(info.state, 'running');
    assert.ok(info.startedAt instanceof Date && !Number.isNaN(info.startedAt.getTime()),
      `startedAt ${info.startedAt}`);
    assert.ok(info.endAt instanceof Date && !Number.isNaN(info.endAt.getTime()), `endAt ${info.endAt}`);
    assert.ok(info.startedAt.getTime() <= before + 1000, 'startedAt is not in the future');
    // created with timeoutMs 300 000: endAt = startedAt + 300 s
    near(info.endAt - info.startedAt, 300_000, 5_000, 'endAt - startedAt');
    assert.ok(Number.isInteger(info.cpuCount) && info.cpuCount > 0, `cpuCount ${info.cpuCount}`);
    assert.ok(Number.isInteger(info.memoryMB) && info.memoryMB > 0, `memoryMB ${info.memoryMB}`);
    assert.match(info.envdVersion, /^\d+\.\d+\.\d+/);
    assert.equal(info.sandboxDomain, `localhost:${face().port}`);
  });

  test('create without timeoutMs: NewSandboxV2\'s default TTL, 300 s', async () => {
    const s = await Sandbox.create('base', { metadata: { suite: RUN_TAG, role: 'default-ttl' } });
    try {
      const info = await s.getInfo();
      near(info.endAt - info.startedAt, 300_000, 5_000, 'endAt - startedAt with no timeout given');
    } finally {
      assert.equal(await s.kill(), true);
    }
  });

  test('isRunning is true for a running sandbox', async () => {
    assert.equal(await a.isRunning(), true);
  });

  test('list with a metadata filter finds exactly the matching sandboxes', async () => {
    const onlyA = await Sandbox.list({ query: { metadata: { suite: RUN_TAG, role: 'a' } } }).nextItems();
    assert.deepEqual(onlyA.map((s) => s.sandboxId), [a.sandboxId]);
    const item = onlyA[0];
    assert.equal(item.templateId, 'base');
    assert.equal(item.state, 'running');
    assert.deepEqual(item.metadata, { suite: RUN_TAG, role: 'a', [ODD_KEY]: ODD_VALUE });
    assert.ok(item.startedAt instanceof Date && !Number.isNaN(item.startedAt.getTime()));
    assert.ok(item.endAt > item.startedAt);

    const onlyB = await Sandbox.list({ query: { metadata: { suite: RUN_TAG, role: 'b' } } }).nextItems();
    assert.deepEqual(onlyB.map((s) => s.sandboxId), [b.sandboxId]);

    const both = await Sandbox.list({ query: { metadata: { suite: RUN_TAG } } }).nextItems();
    assert.deepEqual(both.map((s) => s.sandboxId).sort(), [a.sandboxId, b.sandboxId].sort());

    // keys and values that need percent-encoding at both levels
    const odd = await Sandbox.list({ query: { metadata: { [ODD_KEY]: ODD_VALUE } } }).nextItems();
    assert.deepEqual(odd.map((s) => s.sandboxId), [a.sandboxId], 'filter on a key/value with & = space / % é');

    const none = await Sandbox.list({ query: { metadata: { suite: RUN_TAG, role: 'nobody' } } }).nextItems();
    assert.deepEqual(none, []);
  });

  test('list filters by template and orders by start time', async () => {
    const q = { metadata: { suite: RUN_TAG } };
    const base = await Sandbox.list({ query: { ...q, template: 'base' } }).nextItems();
    assert.equal(base.length, 2, 'template=base');
    const other = await Sandbox.list({ query: { ...q, template: 'no-such-template' } }).nextItems();
    assert.deepEqual(other, [], 'template=no-such-template');
    // a was created before b; the default order is newest first
    const desc = await Sandbox.list({ query: q }).nextItems();
    assert.deepEqual(desc.map((s) => s.sandboxId), [b.sandboxId, a.sandboxId], 'default order (desc)');
    const asc = await Sandbox.list({ query: q, order: 'asc' }).nextItems();
    assert.deepEqual(asc.map((s) => s.sandboxId), [a.sandboxId, b.sandboxId], 'order asc');
  });

  test('list filters by state', async () => {
    const q = { metadata: { suite: RUN_TAG } };
    const running = await Sandbox.list({ query: { ...q, state: ['running'] } }).nextItems();
    assert.deepEqual(running.map((s) => s.sandboxId).sort(), [a.sandboxId, b.sandboxId].sort());
    const paused = await Sandbox.list({ query: { ...q, state: ['paused'] } }).nextItems();
    assert.deepEqual(paused, []);
    const bothStates = await Sandbox.list({ query: { ...q, state: ['running', 'paused'] } }).nextItems();
    assert.equal(bothStates.length, 2);
  });

  test('list paginates with limit and X-Next-Token', async () => {
    const p = Sandbox.list({ query: { metadata: { suite: RUN_TAG } }, limit: 1 });
    const first = await p.nextItems();
    assert.equal(first.length, 1, 'limit 1: one item on the first page');
    assert.equal(p.hasNext, true, 'a second page is announced');
    assert.ok(p.nextToken, 'X-Next-Token is set');
    const second = await p.nextItems();
    assert.equal(second.length, 1, 'one item on the second page');
    assert.notEqual(second[0].sandboxId, first[0].sandboxId);
    assert.deepEqual([first[0].sandboxId, second[0].sandboxId].sort(), [a.sandboxId, b.sandboxId].sort());
    if (p.hasNext) {
      // a token may be handed out for an empty last page; it must be empty
      const third = await p.nextItems();
      assert.deepEqual(third, []);
    }
    assert.equal(p.hasNext, false, 'no page after the last one');
  });

  test('setTimeout moves endAt (longer and shorter)', async () => {
    const t0 = Date.now();
    await b.setTimeout(600_000);
    const longer = await b.getInfo();
    near(longer.endAt.getTime() - t0, 600_000, 10_000, 'endAt after setTimeout(600 s)');
    await b.setTimeout(120_000);
    const shorter = await b.getInfo();
    assert.ok(shorter.endAt < longer.endAt, 'setTimeout can shorten the TTL');
    near(shorter.endAt.getTime() - t0, 120_000, 10_000, 'endAt after setTimeout(120 s)');
  });

  test('kill: true, then false; getInfo and connect then say not found', async () => {
    const id = b.sandboxId;
    assert.equal(await Sandbox.kill(id), true);
    forget(id);
    assert.equal(await Sandbox.kill(id), false, 'second kill of the same id');
    await rejectsWith(Sandbox.getInfo(id), SandboxNotFoundError, 'getInfo after kill');
    await rejectsWith(Sandbox.connect(id), NotFoundError, 'connect after kill');
    assert.equal(await b.isRunning(), false, 'isRunning after kill (envd /health answers 502)');
    const listed = await Sandbox.list({ query: { metadata: { suite: RUN_TAG } } }).nextItems();
    assert.deepEqual(listed.map((s) => s.sandboxId), [a.sandboxId], 'a killed sandbox is not listed');
  });

  test('a sandbox past its TTL is gone', { timeout: 60_000 }, async () => {
    const s = await createSandbox({ metadata: { role: 'ttl' }, timeoutMs: 2_000 });
    assert.equal((await s.getInfo()).state, 'running');
    await waitFor(async () => {
      try {
        await Sandbox.getInfo(s.sandboxId);
        return false;
      } catch (e) {
        if (e instanceof SandboxNotFoundError) return true;
        throw e;
      }
    }, 'the TTL to kill the sandbox', { timeoutMs: 30_000, intervalMs: 250 });
    forget(s.sandboxId);
    assert.equal(await Sandbox.kill(s.sandboxId), false);
  });

  test('unknown ids: getInfo, connect, setTimeout, kill', async () => {
    const ghost = 'a0b1c2d3e4f5g6h7i8j9';
    await rejectsWith(Sandbox.getInfo(ghost), SandboxNotFoundError, 'getInfo of an unknown id');
    await rejectsWith(Sandbox.connect(ghost), SandboxNotFoundError, 'connect to an unknown id');
    await rejectsWith(Sandbox.setTimeout(ghost, 60_000), SandboxNotFoundError, 'setTimeout of an unknown id');
    assert.equal(await Sandbox.kill(ghost), false, 'kill of an unknown id');
  });

  test('a bad API key is refused with AuthenticationError', async () => {
    const apiKey = 'e2b_0000000000000000000000000000000000000000';
    await rejectsWith(Sandbox.create('base', { apiKey }), AuthenticationError, 'create with a bad key');
    await rejectsWith(Sandbox.list({ apiKey }).nextItems(), AuthenticationError, 'list with a bad key');
    await rejectsWith(Sandbox.getInfo(a.sandboxId, { apiKey }), AuthenticationError, 'getInfo with a bad key');
    await rejectsWith(Sandbox.kill(a.sandboxId, { apiKey }), AuthenticationError, 'kill with a bad key');
    // and nothing was created by the refused create
    const listed = await Sandbox.list({ query: { metadata: { suite: RUN_TAG } } }).nextItems();
    assert.deepEqual(listed.map((s) => s.sandboxId), [a.sandboxId]);
  });

  test('an unknown template is refused', async () => {
    const err = await rejectsWith(
      Sandbox.create('no-such-template-xyz', { metadata: { suite: RUN_TAG, role: 'bad-template' } }),
      Error, 'create from an unknown template');
    assert.match(String(err.message), /404|not found/i);
  });
});
