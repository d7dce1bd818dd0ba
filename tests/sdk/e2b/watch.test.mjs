// envd's WatchDir through the official SDK: sandbox.files.watchDir.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { NotFoundError, createSandbox, killCreated, rejectsWith, waitFor } from './lib.mjs';

const H = '/home/user';

describe('watchDir', { timeout: 300_000 }, () => {
  let sbx;

  before(async () => {
    sbx = await createSandbox();
  });
  after(killCreated);

  const has = (events, name, type) => events.some((e) => e.name === name && e.type === type);
  const watchers = async () =>
    (await sbx.commands.run("ps -eo args | grep '[s]bx-server watch' || true")).stdout.trim();

  test('events arrive with names relative to the directory; stop() ends the watcher', async () => {
    const dir = `${H}/watched`;
    await sbx.files.makeDir(`${dir}/sub`);
    const events = [];
    const handle = await sbx.files.watchDir(dir, (e) => events.push(e));
    await sbx.files.write(`${dir}/a.txt`, 'one');
    await sbx.commands.run(`cd ${dir} && echo more >> a.txt && chmod 600 a.txt && mv a.txt b.txt && rm b.txt && touch sub/deep`);
    await waitFor(() => has(events, 'b.txt', 'remove'), 'the remove event');
    for (const [name, type] of [['a.txt', 'create'], ['a.txt', 'write'], ['a.txt', 'chmod'],
      ['a.txt', 'rename'], ['b.txt', 'create']])
      assert.ok(has(events, name, type), `${type} ${name}: ${JSON.stringify(events)}`);
    assert.ok(!events.some((e) => e.name === 'sub/deep'), 'not recursive');
    assert.ok(events.every((e) => e.entry === undefined), 'no entry unless asked');
    assert.ok((await watchers()).split('\n').some((l) => l.endsWith(` ${dir}`)), 'watching');
    await handle.stop();
    // the face sees the client gone at the next frame it writes (an event here, or the
    // keepalive 50 s later), then stops the watcher in the sandbox
    await waitFor(async () => {
      await sbx.commands.run(`touch ${dir}/poke`);
      return !(await watchers()).split('\n').some((l) => l.endsWith(` ${dir}`));
    }, 'the in-sandbox watcher to stop', { timeoutMs: 30_000, intervalMs: 200 });
  });

  test('recursive watching sees new subdirectories', async () => {
    const dir = `${H}/watched-rec`;
    await sbx.files.makeDir(`${dir}/old`);
    const events = [];
    const handle = await sbx.files.watchDir(dir, (e) => events.push(e), { recursive: true });
    await sbx.commands.run(`cd ${dir} && touch old/x && mkdir new`);
    await waitFor(() => has(events, 'new', 'create'), 'the new directory');
    await sbx.commands.run(`touch ${dir}/new/y`);
    await waitFor(() => has(events, 'new/y', 'create'), 'a file in the new directory');
    assert.ok(has(events, 'old/x', 'create'));
    await handle.stop();
  });

  test('a missing directory is NotFoundError', async () => {
    await rejectsWith(sbx.files.watchDir(`${H}/no-such-dir`, () => {}), NotFoundError,
      'watchDir of a missing directory');
    assert.equal(await watchers().then((w) => w.includes('no-such-dir')), false);
  });
});
