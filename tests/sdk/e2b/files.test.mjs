// envd's filesystem service and /files through the official SDK.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  FileNotFoundError, InvalidArgumentError, createSandbox, killCreated, rejectsWith,
} from './lib.mjs';

const H = '/home/user';
const sha = (buf) => createHash('sha256').update(buf).digest('hex');

describe('files', { timeout: 300_000 }, () => {
  let sbx;

  before(async () => {
    sbx = await createSandbox();
  });
  after(killCreated);

  test('write a string (multipart) and read it back as text', async () => {
    const info = await sbx.files.write(`${H}/a.txt`, 'hello files\n');
    assert.equal(info.name, 'a.txt');
    assert.equal(info.path, `${H}/a.txt`);
    assert.equal(info.type, 'file');
    assert.equal(await sbx.files.read(`${H}/a.txt`), 'hello files\n');
    // the file is really in the sandbox
    assert.equal((await sbx.commands.run(`cat ${H}/a.txt`)).stdout, 'hello files\n');
  });

  test('write octet-stream (useOctetStream)', async () => {
    const info = await sbx.files.write(`${H}/octet.txt`, 'octet body', { useOctetStream: true });
    assert.equal(info.path, `${H}/octet.txt`);
    assert.equal(await sbx.files.read(`${H}/octet.txt`), 'octet body');
  });

  test('read with Accept-Encoding: gzip', async () => {
    await sbx.files.write(`${H}/plain-for-gz.txt`, 'gzip me '.repeat(100));
    assert.equal(await sbx.files.read(`${H}/plain-for-gz.txt`, { gzip: true }), 'gzip me '.repeat(100));
  });

  test('write a gzip body (Content-Encoding: gzip)', async () => {
    await sbx.files.write(`${H}/gz.txt`, 'gzip body '.repeat(100), { gzip: true });
    assert.equal(await sbx.files.read(`${H}/gz.txt`), 'gzip body '.repeat(100));
  });

  test('write ArrayBuffer and Blob; read bytes and blob', async () => {
    const bytes = new Uint8Array([0, 1, 2, 253, 254, 255, 10, 13, 0]);
    await sbx.files.write(`${H}/bin/ab.bin`, bytes.buffer);
    assert.deepEqual(await sbx.files.read(`${H}/bin/ab.bin`, { format: 'bytes' }), bytes);
    await sbx.files.write(`${H}/bin/blob.bin`, new Blob([bytes, bytes]));
    const blob = await sbx.files.read(`${H}/bin/blob.bin`, { format: 'blob' });
    assert.ok(blob instanceof Blob);
    assert.deepEqual(new Uint8Array(await blob.arrayBuffer()), new Uint8Array([...bytes, ...bytes]));
  });

  test('an empty file reads as ""', async () => {
    await sbx.files.write(`${H}/empty.txt`, '');
    assert.equal(await sbx.files.read(`${H}/empty.txt`), '');
    assert.deepEqual(await sbx.files.read(`${H}/empty.txt`, { format: 'bytes' }), new Uint8Array(0));
  });

  test('overwrite replaces the content; parents are created', async () => {
    await sbx.files.write(`${H}/deep/er/than/that/f.txt`, 'first version, longer');
    await sbx.files.write(`${H}/deep/er/than/that/f.txt`, 'second');
    assert.equal(await sbx.files.read(`${H}/deep/er/than/that/f.txt`), 'second');
  });

  test('5 MiB binary round trip, multipart and octet-stream, read as bytes and stream', async () => {
    const data = randomBytes(5 * 1024 * 1024);
    const want = sha(data);
    await sbx.files.write(`${H}/big-multipart.bin`, data);
    await sbx.files.write(`${H}/big-octet.bin`, data, { useOctetStream: true });
    for (const name of ['big-multipart.bin', 'big-octet.bin']) {
      const got = await sbx.files.read(`${H}/${name}`, { format: 'bytes' });
      assert.equal(got.length, data.length, `${name}: size`);
      assert.equal(sha(got), want, `${name}: content`);
      const inside = await sbx.commands.run(`sha256sum ${H}/${name}`);
      assert.equal(inside.stdout.split(' ')[0], want, `${name}: content seen inside the sandbox`);
    }
    const stream = await sbx.files.read(`${H}/big-octet.bin`, { format: 'stream' });
    const chunks = [];
    for await (const c of stream) chunks.push(Buffer.from(c));
    assert.equal(sha(Buffer.concat(chunks)), want, 'streamed read');
  });

  test('a ReadableStream upload (streamed octet-stream, chunked)', async () => {
    const parts = ['stream ', 'of ', 'several ', 'chunks\n'];
    const body = new ReadableStream({
      start(c) {
        for (const p of parts) c.enqueue(new TextEncoder().encode(p));
        c.close();
      },
    });
    await sbx.files.write(`${H}/streamed.txt`, body);
    assert.equal(await sbx.files.read(`${H}/streamed.txt`), parts.join(''));
  });

  test('write several files at once (one multipart request)', async () => {
    const res = await sbx.files.write([
      { path: `${H}/multi/one.txt`, data: 'one' },
      { path: `${H}/multi/two.txt`, data: new TextEncoder().encode('two').buffer },
      { path: `${H}/multi/sub/three.txt`, data: new Blob(['three']) },
    ]);
    assert.ok(Array.isArray(res));
    assert.deepEqual(res.map((e) => e.path).sort(),
      [`${H}/multi/one.txt`, `${H}/multi/sub/three.txt`, `${H}/multi/two.txt`]);
    assert.ok(res.every((e) => e.type === 'file'));
    assert.equal(await sbx.files.read(`${H}/multi/one.txt`), 'one');
    assert.equal(await sbx.files.read(`${H}/multi/two.txt`), 'two');
    assert.equal(await sbx.files.read(`${H}/multi/sub/three.txt`), 'three');
  });

  test('list returns EntryInfo for files and directories', async () => {
    await sbx.files.write(`${H}/ls/f1.txt`, '12345');
    await sbx.files.makeDir(`${H}/ls/d1`);
    await sbx.files.write(`${H}/ls/d1/inner.txt`, 'x');
    const entries = await sbx.files.list(`${H}/ls`);
    const byName = Object.fromEntries(entries.map((e) => [e.name, e]));
    assert.deepEqual(Object.keys(byName).sort(), ['d1', 'f1.txt'], 'depth 1 by default');
    const f = byName['f1.txt'];
    assert.equal(f.type, 'file');
    assert.equal(f.path, `${H}/ls/f1.txt`);
    assert.equal(f.size, 5);
    assert.match(f.permissions, /^-[rwx-]{9}$/);
    assert.equal(typeof f.mode, 'number');
    assert.ok(f.owner && f.group, `owner ${f.owner} group ${f.group}`);
    assert.ok(f.modifiedTime instanceof Date && !Number.isNaN(f.modifiedTime.getTime()), 'modifiedTime');
    const d = byName.d1;
    assert.equal(d.type, 'dir');
    assert.equal(d.path, `${H}/ls/d1`);
    assert.match(d.permissions, /^d[rwx-]{9}$/);

    const deep = await sbx.files.list(`${H}/ls`, { depth: 2 });
    assert.deepEqual(deep.map((e) => e.path).sort(),
      [`${H}/ls/d1`, `${H}/ls/d1/inner.txt`, `${H}/ls/f1.txt`], 'depth 2');
  });

  test('getInfo (Stat) of a file and a directory', async () => {
    await sbx.files.write(`${H}/stat.txt`, 'abc');
    const f = await sbx.files.getInfo(`${H}/stat.txt`);
    assert.equal(f.name, 'stat.txt');
    assert.equal(f.type, 'file');
    assert.equal(f.size, 3);
    const d = await sbx.files.getInfo(H);
    assert.equal(d.type, 'dir');
    assert.equal(d.path, H);
  });

  test('a symlink: envd reports the target\'s type and mode, the link\'s permissions and size', async () => {
    await sbx.files.write(`${H}/link-target.txt`, 'target');
    await sbx.commands.run(`ln -sfn ${H}/link-target.txt ${H}/link; ln -sfn /tmp ${H}/dirlink`);
    const l = await sbx.files.getInfo(`${H}/link`);
    assert.equal(l.name, 'link');
    assert.equal(l.type, 'file', 'type of the target (envd follows the link for the type)');
    assert.equal(l.symlinkTarget, `${H}/link-target.txt`);
    assert.match(l.permissions, /^L/, 'permissions are the link\'s own (Go FileMode.String)');
    assert.equal(l.size, `${H}/link-target.txt`.length, 'size is the link\'s own (lstat)');
    const d = await sbx.files.getInfo(`${H}/dirlink`);
    assert.equal(d.type, 'dir');
    assert.equal(d.symlinkTarget, '/tmp');
    assert.equal(await sbx.files.read(`${H}/link`), 'target', 'reading follows the link');
  });

  test('exists and remove (file and directory tree)', async () => {
    await sbx.files.write(`${H}/rm/x/y.txt`, 'y');
    assert.equal(await sbx.files.exists(`${H}/rm/x/y.txt`), true);
    assert.equal(await sbx.files.exists(`${H}/rm/x`), true);
    assert.equal(await sbx.files.exists(`${H}/rm/nothing-here`), false);
    await sbx.files.remove(`${H}/rm/x/y.txt`);
    assert.equal(await sbx.files.exists(`${H}/rm/x/y.txt`), false);
    await sbx.files.write(`${H}/rm/x/z.txt`, 'z');
    await sbx.files.remove(`${H}/rm`);
    assert.equal(await sbx.files.exists(`${H}/rm`), false, 'remove of a directory removes the tree');
  });

  test('makeDir: true when created (with parents), false when it exists', async () => {
    assert.equal(await sbx.files.makeDir(`${H}/mk/a/b`), true);
    assert.equal((await sbx.files.getInfo(`${H}/mk/a/b`)).type, 'dir');
    assert.equal(await sbx.files.makeDir(`${H}/mk/a/b`), false);
    assert.equal(await sbx.files.makeDir(`${H}/mk/a`), false);
  });

  test('rename moves a file and a directory', async () => {
    await sbx.files.write(`${H}/mv/old.txt`, 'moving');
    const e = await sbx.files.rename(`${H}/mv/old.txt`, `${H}/mv/new.txt`);
    assert.equal(e.name, 'new.txt');
    assert.equal(e.path, `${H}/mv/new.txt`);
    assert.equal(e.type, 'file');
    assert.equal(await sbx.files.exists(`${H}/mv/old.txt`), false);
    assert.equal(await sbx.files.read(`${H}/mv/new.txt`), 'moving');
    const d = await sbx.files.rename(`${H}/mv`, `${H}/mv2`);
    assert.equal(d.type, 'dir');
    assert.equal(await sbx.files.read(`${H}/mv2/new.txt`), 'moving');
  });

  test('relative paths are relative to /home/user', async () => {
    const info = await sbx.files.write('rel/x.txt', 'relative');
    assert.equal(info.path, `${H}/rel/x.txt`);
    assert.equal((await sbx.commands.run(`cat ${H}/rel/x.txt`)).stdout, 'relative');
    assert.equal(await sbx.files.read('rel/x.txt'), 'relative');
    assert.equal(await sbx.files.exists('rel/x.txt'), true);
    const names = (await sbx.files.list('rel')).map((e) => e.path);
    assert.deepEqual(names, [`${H}/rel/x.txt`]);
    assert.equal(await sbx.files.makeDir('rel/made'), true);
    assert.equal((await sbx.files.getInfo(`${H}/rel/made`)).type, 'dir');
  });

  // With E2B_SANDBOX_URL set the SDK's file URLs point at the face itself
  // (envdDirectUrl = E2B_SANDBOX_URL), so plain fetches carry the routing
  // headers E2B's proxy reads for IP hosts.
  const envdHeaders = () => ({ 'E2b-Sandbox-Id': sbx.sandboxId, 'E2b-Sandbox-Port': '49983' });

  test('a secured sandbox: /files needs the access token; /health does not', async () => {
    await sbx.files.write(`${H}/secret.txt`, 'secret');
    const url = `${process.env.E2B_SANDBOX_URL}/files?path=${encodeURIComponent(`${H}/secret.txt`)}`;
    const anon = await fetch(url, { headers: envdHeaders() });
    assert.equal(anon.status, 401, 'GET /files without X-Access-Token');
    const withToken = await fetch(url, { headers: { ...envdHeaders(), 'X-Access-Token': sbx.envdAccessToken } });
    assert.equal(withToken.status, 200);
    assert.equal(await withToken.text(), 'secret');
    const health = await fetch(`${process.env.E2B_SANDBOX_URL}/health`, { headers: envdHeaders() });
    assert.equal(health.status, 204, 'GET /health needs no token');
  });

  test('signed URLs: downloadUrl and uploadUrl work without the token; a bad signature does not', async () => {
    await sbx.files.write(`${H}/signed.txt`, 'signed content');
    const down = await sbx.downloadUrl(`${H}/signed.txt`);
    assert.match(down, /[?&]signature=v1_/);
    const r = await fetch(down, { headers: envdHeaders() });
    assert.equal(r.status, 200, `GET ${down}`);
    assert.equal(await r.text(), 'signed content');

    const bad = new URL(down);
    bad.searchParams.set('signature', 'v1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    assert.equal((await fetch(bad, { headers: envdHeaders() })).status, 401, 'tampered signature');
    const other = new URL(down);
    other.searchParams.set('path', `${H}/a.txt`);
    assert.equal((await fetch(other, { headers: envdHeaders() })).status, 401, 'signature of another path');

    const up = await sbx.uploadUrl(`${H}/uploaded-signed.txt`);
    const form = new FormData();
    form.append('file', new Blob(['via signed upload']), `${H}/uploaded-signed.txt`);
    const u = await fetch(up, { method: 'POST', body: form, headers: envdHeaders() });
    assert.equal(u.status, 200, `POST ${up}`);
    assert.equal(await sbx.files.read(`${H}/uploaded-signed.txt`), 'via signed upload');
    // a read signature does not allow a write
    const w = await fetch(down, { method: 'POST', body: form, headers: envdHeaders() });
    assert.equal(w.status, 401, 'upload with a read signature');
  });

  test('errors: missing file, missing directory, reading a directory', async () => {
    await rejectsWith(sbx.files.read(`${H}/missing.txt`), FileNotFoundError, 'read of a missing file');
    await rejectsWith(sbx.files.list(`${H}/missing-dir`), FileNotFoundError, 'list of a missing directory');
    await rejectsWith(sbx.files.getInfo(`${H}/missing.txt`), FileNotFoundError, 'getInfo of a missing file');
    await rejectsWith(sbx.files.rename(`${H}/missing.txt`, `${H}/x.txt`), FileNotFoundError,
      'rename of a missing file');
    await rejectsWith(sbx.files.read(H), InvalidArgumentError, 'read of a directory (envd: 400)');
  });
});
