// envd's process service through the official SDK: commands.run in the
// foreground and background, output streams, exit codes, cwd/env, timeouts,
// list/kill/connect, stdin.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  AuthenticationError, CommandExitError, TimeoutError, createSandbox, killCreated,
  rejectsWith, waitFor,
} from './lib.mjs';

// Is a process whose bash -c script is `script` in commands.list()?
async function listed(sbx, script) {
  const procs = await sbx.commands.list();
  return procs.find((p) => p.args.includes(script));
}

describe('commands', { timeout: 300_000 }, () => {
  let sbx;

  before(async () => {
    sbx = await createSandbox({ envs: { SBX_SDK_ENV: 'from-create', SBX_SDK_OTHER: 'kept' } });
  });
  after(killCreated);

  test('stdout, stderr and exit code 0', async () => {
    const r = await sbx.commands.run('echo hello; echo oops >&2');
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout, 'hello\n');
    assert.equal(r.stderr, 'oops\n');
    assert.equal(r.error, undefined);
  });

  test('the default cwd is /home/user; cwd option', async () => {
    assert.equal((await sbx.commands.run('pwd')).stdout, '/home/user\n');
    assert.equal((await sbx.commands.run('pwd', { cwd: '/tmp' })).stdout, '/tmp\n');
    await sbx.files.makeDir('/home/user/cwd-test');
    assert.equal((await sbx.commands.run('pwd', { cwd: '/home/user/cwd-test' })).stdout,
      '/home/user/cwd-test\n');
  });

  test('envs option, sandbox envs from create, and the override order', async () => {
    const r = await sbx.commands.run('printf "%s|%s|%s" "$FOO" "$SBX_SDK_ENV" "$SBX_SDK_OTHER"',
      { envs: { FOO: 'bar baz' } });
    assert.equal(r.stdout, 'bar baz|from-create|kept');
    const o = await sbx.commands.run('printf %s "$SBX_SDK_ENV"', { envs: { SBX_SDK_ENV: 'per-command' } });
    assert.equal(o.stdout, 'per-command', 'a command env overrides the sandbox env');
    const again = await sbx.commands.run('printf %s "$SBX_SDK_ENV"');
    assert.equal(again.stdout, 'from-create', 'the override does not stick');
  });

  test('a failing command throws CommandExitError with its code and output', async () => {
    const err = await rejectsWith(sbx.commands.run('echo out; echo err >&2; exit 3'),
      CommandExitError, 'exit 3');
    assert.equal(err.exitCode, 3);
    assert.equal(err.stdout, 'out\n');
    assert.equal(err.stderr, 'err\n');
    assert.equal(err.error, 'exit status 3', 'EndEvent.error is Go\'s exec error text');
    const nf = await rejectsWith(sbx.commands.run('no-such-command-xyz'), CommandExitError, 'unknown command');
    assert.equal(nf.exitCode, 127);
    assert.match(nf.stderr, /no-such-command-xyz/);
  });

  test('timeoutMs ends a long command with TimeoutError and kills it', async () => {
    const script = 'echo started; sleep 30; echo never';
    const chunks = [];
    const err = await rejectsWith(
      sbx.commands.run(script, { timeoutMs: 4000, onStdout: (d) => chunks.push(d) }),
      TimeoutError, 'run with timeoutMs 4000');
    assert.match(err.message, /deadline_exceeded|timeout/i);
    assert.equal(chunks.join(''), 'started\n', 'output before the deadline still arrives');
    // Connect-Timeout-Ms is the process's lifetime on envd: it must be gone
    await waitFor(async () => !(await listed(sbx, script)), 'the timed-out process to leave commands.list()');
  });

  test('onStdout/onStderr receive the output as it comes', async () => {
    const out = [];
    const err = [];
    const r = await sbx.commands.run(
      'for i in 1 2 3; do echo out$i; echo err$i >&2; sleep 0.1; done',
      { onStdout: (d) => out.push(d), onStderr: (d) => err.push(d) });
    assert.equal(out.join(''), 'out1\nout2\nout3\n');
    assert.equal(err.join(''), 'err1\nerr2\nerr3\n');
    assert.equal(r.stdout, out.join(''));
    assert.equal(r.stderr, err.join(''));
  });

  test('large and multi-byte output arrives whole', async () => {
    const big = await sbx.commands.run('head -c 3000000 /dev/zero | tr "\\0" a');
    assert.equal(big.stdout.length, 3_000_000);
    assert.ok(/^a+$/.test(big.stdout), 'only "a"s');
    // 2-byte UTF-8 characters: chunk boundaries may split one; the SDK's
    // decoder must still see the bytes in order
    const utf = await sbx.commands.run('for i in $(seq 1 50000); do printf "é"; done');
    assert.equal(utf.stdout, 'é'.repeat(50000));
  });

  test('many commands and file writes at once', async () => {
    const n = 12;
    const runs = await Promise.all(Array.from({ length: n }, (_, i) =>
      sbx.commands.run(`sleep 0.$((RANDOM % 5)); echo run-${i}; echo err-${i} >&2`)));
    runs.forEach((r, i) => {
      assert.equal(r.stdout, `run-${i}\n`);
      assert.equal(r.stderr, `err-${i}\n`);
    });
    await Promise.all(Array.from({ length: n }, (_, i) =>
      sbx.files.write(`/home/user/par/${i}.txt`, `file-${i}`)));
    const back = await Promise.all(Array.from({ length: n }, (_, i) =>
      sbx.files.read(`/home/user/par/${i}.txt`)));
    assert.deepEqual(back, Array.from({ length: n }, (_, i) => `file-${i}`));
  });

  test('a client that goes away does not kill its command (abort signal)', async () => {
    const ac = new AbortController();
    const script = 'sleep 2; echo survived > /tmp/abort-marker';
    const p = sbx.commands.run(script, { signal: ac.signal });
    await waitFor(async () => await listed(sbx, script), 'the command to start');
    ac.abort();
    await assert.rejects(p, 'the aborted run rejects');
    // envd: closing the request does not kill the process
    await waitFor(async () => (await sbx.files.read('/tmp/abort-marker')) === 'survived\n',
      'the command to finish after its client went away', { timeoutMs: 15_000, intervalMs: 250 });
  });

  test('background: pid, commands.list, handle.kill, wait', async () => {
    const script = 'sleep 120';
    const h = await sbx.commands.run(script, { background: true });
    assert.ok(Number.isInteger(h.pid) && h.pid > 0, `pid ${h.pid}`);
    const p = await listed(sbx, script);
    assert.ok(p, 'the background command is in commands.list()');
    assert.equal(p.pid, h.pid);
    assert.equal(p.cmd, '/bin/bash');
    assert.deepEqual(p.args, ['-l', '-c', script]);
    assert.equal(await h.kill(), true);
    const err = await rejectsWith(h.wait(), CommandExitError, 'wait() after kill');
    assert.equal(err.exitCode, -1, 'envd reports a signal death as exit code -1 (Go ExitCode())');
    assert.equal(err.error, 'signal: killed');
    await waitFor(async () => !(await listed(sbx, script)), 'the killed process to leave commands.list()');
    assert.equal(await sbx.commands.kill(h.pid), false, 'killing a finished pid');
  });

  test('background: commands.kill(pid) ends it', async () => {
    const script = 'sleep 121';
    const h = await sbx.commands.run(script, { background: true });
    assert.equal(await sbx.commands.kill(h.pid), true);
    await rejectsWith(h.wait(), CommandExitError, 'wait() after commands.kill');
    await waitFor(async () => !(await listed(sbx, script)), 'the killed process to leave commands.list()');
  });

  test('background: wait() returns the result of a command that ends', async () => {
    const out = [];
    const h = await sbx.commands.run('echo start; sleep 0.5; echo end', {
      background: true, onStdout: (d) => out.push(d),
    });
    const r = await h.wait();
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout, 'start\nend\n');
    assert.equal(out.join(''), 'start\nend\n');
    assert.equal(h.exitCode, 0);
  });

  test('a background process outlives its stream: disconnect, then connect(pid)', async () => {
    const h = await sbx.commands.run('sleep 1; echo late; exit 4', { background: true });
    await h.disconnect();
    const again = await sbx.commands.connect(h.pid);
    assert.equal(again.pid, h.pid);
    const err = await rejectsWith(again.wait(), CommandExitError, 'wait() on the reconnected handle');
    assert.equal(err.exitCode, 4);
    assert.equal(err.stdout, 'late\n', 'output after the reconnect is delivered');
  });

  test('stdin: sendStdin to cat, then closeStdin ends it', async () => {
    const h = await sbx.commands.run('cat', { background: true, stdin: true });
    await h.sendStdin('hello\n');
    await waitFor(() => h.stdout === 'hello\n', 'cat to echo the first line');
    await sbx.commands.sendStdin(h.pid, new TextEncoder().encode('bytes too\n'));
    await waitFor(() => h.stdout === 'hello\nbytes too\n', 'cat to echo the second line');
    await h.closeStdin();
    const r = await h.wait();
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout, 'hello\nbytes too\n');
  });

  test('without stdin: true the command reads EOF', async () => {
    const r = await sbx.commands.run('cat; echo "rc=$?"');
    assert.equal(r.stdout, 'rc=0\n');
  });

  test('user option: root', async () => {
    assert.equal((await sbx.commands.run('id -un', { user: 'root' })).stdout, 'root\n');
  });

  test('a wrong envd access token is refused', async () => {
    const token = sbx.envdAccessToken;
    try {
      sbx.envdAccessToken = 'wrong-token';
      await rejectsWith(sbx.commands.run('true'), AuthenticationError, 'Process/Start with a wrong X-Access-Token');
      await rejectsWith(sbx.commands.list(), AuthenticationError, 'Process/List with a wrong X-Access-Token');
    } finally {
      sbx.envdAccessToken = token;
    }
    assert.equal((await sbx.commands.run('echo ok')).stdout, 'ok\n');
  });
});
