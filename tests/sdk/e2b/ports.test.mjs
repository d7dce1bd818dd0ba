// A server started in the sandbox, reached through sandbox.getHost(port):
// the face's port proxy, routed by Host `<port>-<id>.<domain>` and by the
// E2b-Sandbox-Id / E2b-Sandbox-Port headers.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createSandbox, face, freePort, httpGet, killCreated, waitFor } from './lib.mjs';

describe('ports', { timeout: 180_000 }, () => {
  let sbx;
  let port;
  let server;
  const body = `served from the sandbox ${Date.now()}\n`;

  before(async () => {
    sbx = await createSandbox();
    await sbx.files.write('/home/user/www/index.txt', body);
    // local sandboxes share the host's network: pick a port free on the host
    port = await freePort();
    server = await sbx.commands.run(`python3 -m http.server ${port} --bind 127.0.0.1`,
      { background: true, cwd: '/home/user/www' });
  });
  after(async () => {
    await server?.kill().catch(() => {});
    await killCreated();
  });

  test('getHost(port) reaches the server (Host routing)', async () => {
    const host = sbx.getHost(port);
    assert.equal(host, `${port}-${sbx.sandboxId}.localhost:${face().port}`);
    const r = await waitFor(async () => {
      const res = await httpGet(`http://${host}/index.txt`);
      if (res.status !== 200) throw new Error(`${res.status} ${res.body.slice(0, 300)}`);
      return res;
    }, `GET http://${host}/index.txt to answer 200`, { timeoutMs: 20_000, intervalMs: 250 });
    assert.equal(r.body, body);
    const listing = await httpGet(`http://${host}/`);
    assert.equal(listing.status, 200);
    assert.match(listing.body, /index\.txt/, 'directory listing of the server');
    const missing = await httpGet(`http://${host}/nope.txt`);
    assert.equal(missing.status, 404, 'the server\'s own 404 passes through');
  });

  test('the same port through the routing headers on 127.0.0.1', async () => {
    const { url } = face();
    const r = await waitFor(async () => {
      const res = await httpGet(`${url}/index.txt`,
        { 'E2b-Sandbox-Id': sbx.sandboxId, 'E2b-Sandbox-Port': String(port) });
      if (res.status !== 200) throw new Error(`${res.status} ${res.body.slice(0, 300)}`);
      return res;
    }, 'header-routed GET to answer 200', { timeoutMs: 20_000, intervalMs: 250 });
    assert.equal(r.body, body);
  });

  test('a port nobody listens on answers 502 with a JSON body', async () => {
    const closed = await freePort();
    const res = await httpGet(`http://${sbx.getHost(closed)}/`);
    assert.equal(res.status, 502);
    const j = JSON.parse(res.body);
    assert.equal(j.code, 502);
    assert.equal(typeof j.message, 'string');
  });

  test('an unknown sandbox id answers 502 "not found"', async () => {
    const ghost = 'a0b1c2d3e4f5g6h7i8j9';
    const res = await httpGet(`http://${port}-${ghost}.localhost:${face().port}/`);
    assert.equal(res.status, 502);
    assert.deepEqual(JSON.parse(res.body),
      { code: 502, message: `The sandbox ${ghost} was not found` });
  });

  test('network.allowPublicTraffic false: the port needs e2b-traffic-access-token', async () => {
    const priv = await createSandbox({ network: { allowPublicTraffic: false } });
    assert.ok(priv.trafficAccessToken, 'create returns a trafficAccessToken');
    const info = await priv.getInfo();
    assert.equal(info.network?.allowPublicTraffic, false, 'getInfo().network.allowPublicTraffic');
    const p2 = await freePort();
    await priv.files.write('/home/user/www/p.txt', 'private');
    const srv = await priv.commands.run(`python3 -m http.server ${p2} --bind 127.0.0.1`,
      { background: true, cwd: '/home/user/www' });
    try {
      const url = `http://${priv.getHost(p2)}/p.txt`;
      const r = await waitFor(async () => {
        const res = await httpGet(url, { 'e2b-traffic-access-token': priv.trafficAccessToken });
        if (res.status !== 200) throw new Error(`${res.status} ${res.body.slice(0, 300)}`);
        return res;
      }, `GET ${url} with the traffic token`, { timeoutMs: 20_000, intervalMs: 250 });
      assert.equal(r.body, 'private');
      assert.equal((await httpGet(url)).status, 403, 'without the token');
      assert.equal((await httpGet(url, { 'e2b-traffic-access-token': 'wrong' })).status, 403, 'wrong token');
      // the public sandbox needs none
      assert.equal((await httpGet(`http://${sbx.getHost(port)}/index.txt`)).status, 200);
    } finally {
      await srv.kill().catch(() => {});
    }
  });

  test('after kill the port is no longer reachable', async () => {
    const host = sbx.getHost(port);
    await server.kill();
    server = null;
    await killCreated();
    const res = await httpGet(`http://${host}/index.txt`);
    assert.equal(res.status, 502);
  });
});
