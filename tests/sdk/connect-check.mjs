#!/usr/bin/env node
// connect-check: a checking proxy in front of an E2B envd (issue 5, "two-way conformance").
//
// Every request an envd client sends to its one base URL (E2B_SANDBOX_URL) goes through here:
//
//  * Connect RPCs, POST /<pkg>.<Service>/<Method>: the request is checked against the Connect
//    protocol (shared/specs/connect/protocol.md: Connect-Protocol-Version: 1, the content type
//    of a unary or streaming call, Connect-Timeout-Ms, the 5-byte envelopes) and its JSON
//    against the method's input type in process.proto / filesystem.proto with a STRICT proto3
//    JSON check (see checkMessage). Then it is forwarded to the face, and the answer is checked
//    the same way: a unary body against the output type, an error body against Connect's Error,
//    every frame of a stream against the output type as it arrives (frames are passed on one by
//    one, never the whole stream), the end-of-stream message against EndStreamResponse.
//  * every other path (/files, /health, ...): validated by a `prism proxy envd.yaml --errors`
//    instance (--prism). Prism reads bodies as UTF-8 text and corrupts binary uploads and
//    downloads (stoplightio/prism#1321, #2349), so it never carries the real bytes: it gets a
//    "shadow" of the request (same method, path, query and headers; an octet-stream body is
//    replaced by one placeholder byte) and forwards that to this program's replay listener,
//    which sends the REAL request to the face and hands Prism the face's status, headers and
//    body (a placeholder again for octet-stream) to validate. The client receives the face's
//    real answer only when Prism found nothing.
//
// Every violation is appended as one JSON line to --log and answered with a 4xx/5xx (or, in a
// stream that has already started, an end-of-stream error frame) so the client fails visibly.
// With --trace, every exchange that passed is appended there as one JSON line too (what was
// checked: {rpc|path, status, frames, ended}), so a test can tell "no violation" from "no
// traffic".
//
// usage: node connect-check.mjs --protos DIR --face URL --prism URL --log FILE
//                               [--trace FILE] [--host H] [--port N] [--replay-port N]
// DIR holds process/process.proto and filesystem/filesystem.proto (shared/specs/e2b/envd).
// Ready: prints "connect-check: listening on http://H:P replay http://H:R" and flushes.
// Only dependency: protobufjs (pinned in tests/sdk/package.json).

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const protobuf = require('protobufjs');

const MAX_BODY = 64 << 20;        // a request body we read whole (Connect requests are small)
const MAX_FRAME = 16 << 20;       // one envelope
// Hop-by-hop headers, and Expect (this program answers 100-continue itself, then sends the
// body along at once).
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization',
    'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'expect']);
const CONNECT_CODES = {
    canceled: 499, unknown: 500, invalid_argument: 400, deadline_exceeded: 504, not_found: 404,
    already_exists: 409, permission_denied: 403, resource_exhausted: 429,
    failed_precondition: 400, aborted: 409, out_of_range: 400, unimplemented: 501,
    internal: 500, unavailable: 503, data_loss: 500, unauthenticated: 401,
};
const ID_HEADER = 'x-connect-check-id';

// ------------------------------------------------------------------ command line

function parseArgs(argv) {
    const o = { host: '127.0.0.1', port: 0, replayPort: 0 };
    const names = { '--protos': 'protos', '--face': 'face', '--prism': 'prism', '--log': 'log',
        '--trace': 'trace', '--host': 'host', '--port': 'port', '--replay-port': 'replayPort' };
    for (let i = 0; i < argv.length; i++) {
        const k = names[argv[i]];
        if (!k || i + 1 >= argv.length) usage(`unknown or incomplete option '${argv[i]}'`);
        o[k] = argv[++i];
    }
    for (const k of ['protos', 'face', 'prism', 'log'])
        if (!o[k]) usage(`--${k} is required`);
    o.port = Number(o.port);
    o.replayPort = Number(o.replayPort);
    return o;
}

function usage(msg) {
    process.stderr.write(`connect-check: ${msg}\nusage: node connect-check.mjs --protos DIR ` +
        '--face URL --prism URL --log FILE [--trace FILE] [--host H] [--port N] [--replay-port N]\n');
    process.exit(2);
}

// ------------------------------------------------------------------ violations

let logPath = null;
let tracePath = null;

function trace(t) {
    if (tracePath) fs.appendFileSync(tracePath, JSON.stringify({ time: new Date().toISOString(), ...t }) + '\n');
}

function report(v) {
    const line = JSON.stringify({ time: new Date().toISOString(), ...v });
    fs.appendFileSync(logPath, line + '\n');
    process.stderr.write(`connect-check: violation: ${line}\n`);
}

function summary(list) {
    const first = list[0];
    const where = first.field ? ` at ${first.field}` : '';
    const more = list.length > 1 ? ` (and ${list.length - 1} more)` : '';
    return `connect-check: ${first.dir} violates ${first.spec}${where}: ${first.rule}: ` +
        `${first.detail}${more}`;
}

// ------------------------------------------------------------------ strict proto3 JSON

export function jsonName(field) {
    if (field.options && field.options.json_name) return field.options.json_name;
    return field.name.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());
}

const RE_INT = /^-?(0|[1-9][0-9]*)$/;
const RE_TS = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const RE_B64 = /^[A-Za-z0-9+/]*={0,2}$/;
const RE_B64URL = /^[A-Za-z0-9_-]*={0,2}$/;
const INT_RANGE = {
    int32: [-(2n ** 31n), 2n ** 31n - 1n], sint32: [-(2n ** 31n), 2n ** 31n - 1n],
    sfixed32: [-(2n ** 31n), 2n ** 31n - 1n], uint32: [0n, 2n ** 32n - 1n],
    fixed32: [0n, 2n ** 32n - 1n], int64: [-(2n ** 63n), 2n ** 63n - 1n],
    sint64: [-(2n ** 63n), 2n ** 63n - 1n], sfixed64: [-(2n ** 63n), 2n ** 63n - 1n],
    uint64: [0n, 2n ** 64n - 1n], fixed64: [0n, 2n ** 64n - 1n],
};

function kind(v) {
    if (v === null) return 'null';
    if (Array.isArray(v)) return 'array';
    return typeof v;
}

function base64Ok(s) {
    if (!(RE_B64.test(s) || RE_B64URL.test(s))) return false;
    const bare = s.replace(/=+$/, '');
    if (bare.length % 4 === 1) return false;
    return s.length === bare.length || s.length % 4 === 0;
}

// One scalar of proto type `type` (not message/enum). Returns an error text or null.
function checkScalar(type, v) {
    if (type in INT_RANGE) {
        const is64 = type.endsWith('64');
        let n;
        if (typeof v === 'number') {
            if (!Number.isInteger(v)) return `${type} must be an integer, got ${v}`;
            n = BigInt(v);
        } else if (typeof v === 'string' && is64) {
            if (!RE_INT.test(v)) return `${type} as a string must be a decimal integer, got "${v}"`;
            n = BigInt(v);
        } else {
            return `${type} must be ${is64 ? 'a string or a number' : 'a number'}, got ${kind(v)}`;
        }
        const [lo, hi] = INT_RANGE[type];
        if (n < lo || n > hi) return `${type} out of range: ${v}`;
        return null;
    }
    switch (type) {
    case 'double': case 'float':
        if (typeof v === 'number') return null;
        if (typeof v === 'string' && (['NaN', 'Infinity', '-Infinity'].includes(v) ||
            (v.trim() === v && v !== '' && !Number.isNaN(Number(v))))) return null;
        return `${type} must be a number, got ${kind(v)}`;
    case 'bool':
        return typeof v === 'boolean' ? null : `bool must be true or false, got ${kind(v)}`;
    case 'string':
        return typeof v === 'string' ? null : `string expected, got ${kind(v)}`;
    case 'bytes':
        if (typeof v !== 'string') return `bytes must be a base64 string, got ${kind(v)}`;
        return base64Ok(v) ? null : `bytes is not valid base64: "${v.slice(0, 40)}"`;
    default:
        return `unsupported scalar type ${type}`;
    }
}

function checkTimestamp(v, where, out) {
    if (typeof v !== 'string') {
        out.push({ field: where, rule: 'type', detail: `Timestamp must be an RFC 3339 string, got ${kind(v)}` });
        return;
    }
    const m = RE_TS.exec(v);
    const bad = !m || +m[1] < 1 || +m[2] < 1 || +m[2] > 12 || +m[3] < 1 || +m[3] > 31 ||
        +m[4] > 23 || +m[5] > 59 || +m[6] > 59;
    if (bad) out.push({ field: where, rule: 'timestamp', detail: `not an RFC 3339 timestamp: "${v}"` });
}

function checkValue(field, resolved, type, v, where, out) {
    if (v === null) {
        out.push({ field: where, rule: 'null', detail: 'null value (canonical proto3 JSON omits unset fields)' });
        return;
    }
    if (resolved instanceof protobuf.Enum) {
        if (typeof v !== 'string') {
            out.push({ field: where, rule: 'enum', detail: `enum ${resolved.name} must be given by name, got ${kind(v)} ${JSON.stringify(v)}` });
        } else if (!Object.prototype.hasOwnProperty.call(resolved.values, v)) {
            out.push({ field: where, rule: 'enum', detail: `"${v}" is not a value of enum ${resolved.name} (${Object.keys(resolved.values).join(', ')})` });
        }
        return;
    }
    if (resolved instanceof protobuf.Type) {
        checkMessage(resolved, v, where, out);
        return;
    }
    const err = checkScalar(type, v);
    if (err) out.push({ field: where, rule: 'type', detail: err });
}

// Strict proto3 JSON check of v as a message of `type`. Appends {field, rule, detail} to out.
// Accepted: each key is a field's JSON name (lowerCamelCase or json_name) or its proto name,
// each field at most once; int32-family values are JSON numbers, 64-bit integers strings or
// numbers; bool true/false; bytes base64 (standard or URL-safe); enums by name; maps objects;
// repeated arrays; at most one member of a oneof; Timestamp an RFC 3339 string. Rejected
// besides: null anywhere (parsers treat it as "unset", encoders never write it).
export function checkMessage(type, v, where, out) {
    const full = type.fullName.replace(/^\./, '');
    if (full === 'google.protobuf.Timestamp') return checkTimestamp(v, where, out);
    if (full === 'google.protobuf.Empty') {
        if (kind(v) !== 'object' || Object.keys(v).length)
            out.push({ field: where, rule: 'type', detail: 'google.protobuf.Empty must be {}' });
        return;
    }
    if (full.startsWith('google.protobuf.')) {
        out.push({ field: where, rule: 'unsupported', detail: `well-known type ${full} is not checked` });
        return;
    }
    if (kind(v) !== 'object') {
        out.push({ field: where, rule: 'type', detail: `message ${full} must be a JSON object, got ${kind(v)}` });
        return;
    }
    const byName = new Map();
    for (const f of type.fieldsArray) {
        byName.set(jsonName(f), f);
        byName.set(f.name, f);
    }
    const seen = new Map();
    for (const [key, val] of Object.entries(v)) {
        const at = where ? `${where}.${key}` : key;
        const f = byName.get(key);
        if (!f) {
            out.push({ field: at, rule: 'unknown-field', detail: `"${key}" is not a field of ${full} (fields: ${type.fieldsArray.map(jsonName).join(', ')})` });
            continue;
        }
        if (seen.has(f.name)) {
            out.push({ field: at, rule: 'duplicate-field', detail: `field ${f.name} given twice ("${seen.get(f.name)}" and "${key}")` });
            continue;
        }
        seen.set(f.name, key);
        f.resolve();
        if (f.map) {
            if (val === null || kind(val) !== 'object') {
                out.push({ field: at, rule: 'type', detail: `map<${f.keyType}, ${f.type}> must be a JSON object, got ${kind(val)}` });
                continue;
            }
            for (const [mk, mv] of Object.entries(val)) {
                const kat = `${at}[${JSON.stringify(mk)}]`;
                if (f.keyType === 'bool' ? !['true', 'false'].includes(mk)
                    : f.keyType !== 'string' && !RE_INT.test(mk))
                    out.push({ field: kat, rule: 'map-key', detail: `"${mk}" is not a ${f.keyType} map key` });
                checkValue(f, f.resolvedType, f.type, mv, kat, out);
            }
        } else if (f.repeated) {
            if (kind(val) !== 'array') {
                out.push({ field: at, rule: 'type', detail: `repeated ${f.type} must be a JSON array, got ${kind(val)}` });
                continue;
            }
            val.forEach((el, i) => checkValue(f, f.resolvedType, f.type, el, `${at}[${i}]`, out));
        } else {
            checkValue(f, f.resolvedType, f.type, val, at, out);
        }
    }
    for (const o of type.oneofsArray) {
        const set = o.fieldsArray.filter((f) => seen.has(f.name) && v[seen.get(f.name)] !== null);
        if (set.length > 1)
            out.push({ field: where || '(message)', rule: 'oneof', detail: `more than one member of oneof ${o.name} set: ${set.map((f) => seen.get(f.name)).join(', ')}` });
    }
}

// JSON.parse keeps the last of duplicate keys silently; protojson rejects them. Returns the
// first duplicated key path or null. s must be valid JSON.
export function duplicateKey(s) {
    const stack = [];
    let i = 0;
    let expectKey = false;
    while (i < s.length) {
        const c = s[i];
        if (c === '"') {
            let j = i + 1;
            while (s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
            const str = JSON.parse(s.slice(i, j + 1));
            const top = stack[stack.length - 1];
            if (top && top.obj && expectKey) {
                if (top.keys.has(str)) return str;
                top.keys.add(str);
                expectKey = false;
            }
            i = j + 1;
            continue;
        }
        if (c === '{') { stack.push({ obj: true, keys: new Set() }); expectKey = true; }
        else if (c === '[') stack.push({ obj: false });
        else if (c === '}' || c === ']') stack.pop();
        else if (c === ',') expectKey = !!(stack.length && stack[stack.length - 1].obj);
        i++;
    }
    return null;
}

// Parses a JSON text as a message of `type`; returns the violations.
export function checkJsonText(type, text, where) {
    const out = [];
    let v;
    try {
        v = JSON.parse(text);
    } catch (e) {
        return [{ field: where, rule: 'json', detail: `not valid JSON: ${e.message}` }];
    }
    const dup = duplicateKey(text);
    if (dup) out.push({ field: where, rule: 'duplicate-key', detail: `key "${dup}" appears twice in one object` });
    checkMessage(type, v, where, out);
    return out;
}

// ------------------------------------------------------------------ Connect bodies

// Connect's Error (protocol.md, "Error and EndStreamResponse").
function checkConnectError(e, where, out) {
    if (kind(e) !== 'object') {
        out.push({ field: where, rule: 'connect-error', detail: `Error must be a JSON object, got ${kind(e)}` });
        return null;
    }
    for (const k of Object.keys(e))
        if (!['code', 'message', 'details'].includes(k))
            out.push({ field: `${where}.${k}`, rule: 'connect-error', detail: `unknown key "${k}" in a Connect Error` });
    if (typeof e.code !== 'string' || !(e.code in CONNECT_CODES))
        out.push({ field: `${where}.code`, rule: 'connect-error', detail: `code must be one of Connect's codes, got ${JSON.stringify(e.code)}` });
    if ('message' in e && typeof e.message !== 'string')
        out.push({ field: `${where}.message`, rule: 'connect-error', detail: `message must be a string, got ${kind(e.message)}` });
    if ('details' in e) {
        if (kind(e.details) !== 'array') {
            out.push({ field: `${where}.details`, rule: 'connect-error', detail: 'details must be an array' });
        } else {
            e.details.forEach((d, i) => {
                const at = `${where}.details[${i}]`;
                if (kind(d) !== 'object' || typeof d.type !== 'string' || typeof d.value !== 'string' ||
                    !base64Ok(d.value))
                    out.push({ field: at, rule: 'connect-error', detail: 'a detail needs "type" (string) and "value" (base64)' });
            });
        }
    }
    return typeof e.code === 'string' ? e.code : null;
}

function checkEndStream(text, out) {
    let v;
    try {
        v = JSON.parse(text);
    } catch (e) {
        out.push({ field: 'end-stream', rule: 'json', detail: `EndStreamResponse is not JSON: ${e.message}` });
        return;
    }
    if (kind(v) !== 'object') {
        out.push({ field: 'end-stream', rule: 'end-stream', detail: `EndStreamResponse must be an object, got ${kind(v)}` });
        return;
    }
    for (const k of Object.keys(v))
        if (k !== 'error' && k !== 'metadata')
            out.push({ field: `end-stream.${k}`, rule: 'end-stream', detail: `unknown key "${k}" in EndStreamResponse` });
    if ('error' in v) checkConnectError(v.error, 'end-stream.error', out);
    if ('metadata' in v) {
        if (kind(v.metadata) !== 'object') {
            out.push({ field: 'end-stream.metadata', rule: 'end-stream', detail: 'metadata must be an object' });
        } else {
            for (const [k, vals] of Object.entries(v.metadata))
                if (!/^[0-9a-zA-Z_.-]+$/.test(k) || kind(vals) !== 'array' ||
                    vals.some((s) => typeof s !== 'string'))
                    out.push({ field: `end-stream.metadata.${k}`, rule: 'end-stream', detail: 'metadata is header-name -> array of strings' });
        }
    }
}

function mediaType(h) {
    return (h || '').split(';')[0].trim().toLowerCase();
}

function charsetOk(h) {
    const m = /;\s*charset=([^;]+)/i.exec(h || '');
    return !m || m[1].trim().toLowerCase().replace(/"/g, '') === 'utf-8';
}

// Splits a body into envelopes. Returns {frames:[{flags, payload}], rest}.
function splitEnvelopes(buf) {
    const frames = [];
    let off = 0;
    while (buf.length - off >= 5) {
        const len = buf.readUInt32BE(off + 1);
        if (buf.length - off - 5 < len) break;
        frames.push({ flags: buf[off], payload: buf.subarray(off + 5, off + 5 + len) });
        off += 5 + len;
    }
    return { frames, rest: buf.subarray(off) };
}

// ------------------------------------------------------------------ proxy plumbing

function forwardHeaders(headers, upstream) {
    const h = {};
    for (const [k, v] of Object.entries(headers))
        if (!HOP.has(k) && k !== ID_HEADER) h[k] = v;
    h.host = upstream.host;
    return h;
}

function responseHeaders(headers, dropLength) {
    const h = {};
    for (const [k, v] of Object.entries(headers))
        if (!HOP.has(k) && !(dropLength && k === 'content-length')) h[k] = v;
    return h;
}

function readAll(stream, limit) {
    return new Promise((resolve, reject) => {
        const parts = [];
        let n = 0;
        stream.on('data', (c) => {
            n += c.length;
            if (n > limit) {
                stream.destroy();
                reject(new Error(`body over ${limit} bytes`));
                return;
            }
            parts.push(c);
        });
        stream.on('end', () => resolve(Buffer.concat(parts)));
        stream.on('error', reject);
    });
}

function sendJson(res, status, obj, extra) {
    if (res.headersSent) {
        res.destroy();
        return;
    }
    const body = Buffer.from(JSON.stringify(obj));
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': body.length, ...extra });
    res.end(body);
}

function endStreamFrame(code, message) {
    const payload = Buffer.from(JSON.stringify({ error: { code, message } }));
    const head = Buffer.alloc(5);
    head[0] = 2;
    head.writeUInt32BE(payload.length, 1);
    return Buffer.concat([head, payload]);
}

// ------------------------------------------------------------------ the Connect route

class ConnectRoute {
    constructor(root, face) {
        this.root = root;
        this.face = face;
    }

    // The method of /<pkg>.<Service>/<Method>, or undefined when the path is not that shape,
    // or null when it is but no such method exists.
    lookup(p) {
        const m = /^\/([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)+)\/([A-Za-z_]\w*)$/.exec(p);
        if (!m) return undefined;
        let svc;
        try {
            svc = this.root.lookupService(m[1]);
        } catch {
            return null;
        }
        const method = svc.methods[m[2]];
        if (!method) return null;
        method.resolve();
        return method;
    }

    checkRequestHeaders(req, method, streaming, out) {
        const ct = req.headers['content-type'];
        const want = streaming ? 'application/connect+json' : 'application/json';
        if (req.method !== 'POST')
            out.push({ field: ':method', rule: 'connect-method', detail: `${req.method} (only POST: no method of these services allows GET)` });
        if (req.headers['connect-protocol-version'] !== '1')
            out.push({ field: 'Connect-Protocol-Version', rule: 'connect-header', detail: `must be "1", got ${JSON.stringify(req.headers['connect-protocol-version'] ?? null)}` });
        if (mediaType(ct) !== want || !charsetOk(ct))
            out.push({ field: 'Content-Type', rule: 'connect-content-type', detail: `a ${streaming ? 'streaming' : 'unary'} call with the JSON codec needs "${want}", got ${JSON.stringify(ct ?? null)}` });
        const to = req.headers['connect-timeout-ms'];
        if (to !== undefined && !(/^[0-9]{1,10}$/.test(to) && Number(to) > 0))
            out.push({ field: 'Connect-Timeout-Ms', rule: 'connect-timeout', detail: `must be a positive integer of at most 10 digits, got "${to}"` });
        const enc = streaming ? req.headers['connect-content-encoding'] : req.headers['content-encoding'];
        if (enc !== undefined && enc !== 'identity')
            out.push({ field: streaming ? 'Connect-Content-Encoding' : 'Content-Encoding', rule: 'connect-encoding', detail: `compressed bodies ("${enc}") cannot be checked; send identity` });
        if (streaming && req.headers['content-encoding'] !== undefined && req.headers['content-encoding'] !== 'identity')
            out.push({ field: 'Content-Encoding', rule: 'connect-encoding', detail: 'a streaming call compresses per envelope (Connect-Content-Encoding), not the HTTP body' });
    }

    checkRequestBody(body, method, streaming, out) {
        const type = method.resolvedRequestType;
        if (!streaming) {
            out.push(...checkJsonText(type, body.toString('utf8'), ''));
            return;
        }
        const { frames, rest } = splitEnvelopes(body);
        if (rest.length)
            out.push({ field: 'body', rule: 'envelope', detail: `${rest.length} bytes after the last complete envelope` });
        if (!method.requestStream && frames.length !== 1)
            out.push({ field: 'body', rule: 'envelope', detail: `a server-streaming call sends exactly one enveloped message, got ${frames.length}` });
        frames.forEach((fr, i) => {
            const where = frames.length > 1 ? `[frame ${i}]` : '';
            if (fr.flags !== 0)
                out.push({ field: `${where || 'envelope'}.flags`, rule: 'envelope', detail: `request envelope flags must be 0 (no compression, no end-of-stream), got ${fr.flags}` });
            out.push(...checkJsonText(type, fr.payload.toString('utf8'), where));
        });
    }

    async handle(req, res, method, rpc) {
        const streaming = !!(method.requestStream || method.responseStream);
        const base = { spec: `${rpc} (${method.resolvedRequestType.fullName.slice(1)})`, method: req.method, path: req.url, rpc };
        const out = [];
        this.checkRequestHeaders(req, method, streaming, out);
        let body;
        try {
            body = await readAll(req, MAX_BODY);
        } catch (e) {
            sendJson(res, 400, { code: 'invalid_argument', message: `connect-check: ${e.message}` });
            return;
        }
        this.checkRequestBody(body, method, streaming, out);
        if (out.length) {
            const vs = out.map((v) => ({ dir: 'request', ...base, ...v }));
            vs.forEach(report);
            sendJson(res, 400, { code: 'invalid_argument', message: summary(vs) });
            return;
        }
        const headers = forwardHeaders(req.headers, this.face);
        headers['content-length'] = String(body.length);
        const up = http.request({ host: this.face.hostname, port: this.face.port, method: req.method,
            path: req.url, headers });
        let clientGone = false;
        res.on('close', () => {
            if (!res.writableFinished) {
                clientGone = true;
                up.destroy();
            }
        });
        up.on('error', (e) => {
            if (!clientGone) sendJson(res, 502, { code: 'unavailable', message: `connect-check: face: ${e.message}` });
        });
        up.on('response', (ur) => {
            const rbase = { ...base, spec: `${rpc} (${method.resolvedResponseType.fullName.slice(1)})`, status: ur.statusCode };
            if (streaming && ur.statusCode === 200) this.relayStream(ur, res, method, rbase, () => clientGone);
            else this.relayUnary(ur, res, method, rbase, streaming);
        });
        up.end(body);
    }

    async relayUnary(ur, res, method, rbase, streaming) {
        let body;
        try {
            body = await readAll(ur, MAX_BODY);
        } catch (e) {
            sendJson(res, 502, { code: 'internal', message: `connect-check: face response: ${e.message}` });
            return;
        }
        const out = [];
        const ct = ur.headers['content-type'];
        if (streaming) {
            out.push({ field: ':status', rule: 'connect-stream-status', detail: `a streaming response always has HTTP status 200 (errors go in the end-of-stream message), got ${ur.statusCode}` });
        }
        if (ur.statusCode === 200) {
            if (mediaType(ct) !== 'application/json' || !charsetOk(ct))
                out.push({ field: 'Content-Type', rule: 'connect-content-type', detail: `a unary success has the request's content type application/json, got ${JSON.stringify(ct ?? null)}` });
            out.push(...checkJsonText(method.resolvedResponseType, body.toString('utf8'), ''));
        } else {
            if (mediaType(ct) !== 'application/json')
                out.push({ field: 'Content-Type', rule: 'connect-content-type', detail: `an error must be application/json, got ${JSON.stringify(ct ?? null)}` });
            if (body.length) {
                let e;
                try {
                    e = JSON.parse(body.toString('utf8'));
                } catch (err) {
                    out.push({ field: 'error', rule: 'json', detail: `error body is not JSON: ${err.message}` });
                }
                if (e !== undefined) {
                    const code = checkConnectError(e, 'error', out);
                    if (code && code in CONNECT_CODES && CONNECT_CODES[code] !== ur.statusCode)
                        out.push({ field: ':status', rule: 'connect-error-status', detail: `code "${code}" is sent with HTTP ${CONNECT_CODES[code]}, got ${ur.statusCode}` });
                }
            }
        }
        if (out.length) {
            const vs = out.map((v) => ({ dir: 'response', ...rbase, ...v }));
            vs.forEach(report);
            sendJson(res, 502, { code: 'internal', message: summary(vs) });
            return;
        }
        trace({ rpc: rbase.rpc, status: ur.statusCode });   // before the client can see it
        res.writeHead(ur.statusCode, { ...responseHeaders(ur.headers, true), 'content-length': body.length });
        res.end(body);
    }

    relayStream(ur, res, method, rbase, clientGone) {
        const type = method.resolvedResponseType;
        const ct = ur.headers['content-type'];
        const enc = ur.headers['connect-content-encoding'];
        const early = [];
        if (mediaType(ct) !== 'application/connect+json' || !charsetOk(ct))
            early.push({ field: 'Content-Type', rule: 'connect-content-type', detail: `a streaming response has the request's content type application/connect+json, got ${JSON.stringify(ct ?? null)}` });
        res.writeHead(200, responseHeaders(ur.headers, true));
        let pending = Buffer.alloc(0);
        let index = 0;
        let ended = false;   // end-of-stream frame seen
        let failed = false;
        const fail = (list) => {
            failed = true;
            const vs = list.map((v) => ({ dir: 'response', ...rbase, ...v }));
            vs.forEach(report);
            res.end(endStreamFrame('internal', summary(vs)));
            ur.destroy();
        };
        if (early.length) {
            fail(early);
            return;
        }
        ur.on('data', (chunk) => {
            if (failed) return;
            pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
            const ok = [];
            while (pending.length >= 5) {
                const len = pending.readUInt32BE(1);
                const flags = pending[0];
                const at = `[frame ${index}]`;
                if (len > MAX_FRAME) return fail([{ field: at, rule: 'envelope', detail: `envelope of ${len} bytes` }]);
                if (pending.length < 5 + len) break;
                const frame = pending.subarray(0, 5 + len);
                const payload = frame.subarray(5).toString('utf8');
                pending = pending.subarray(5 + len);
                const out = [];
                if (ended) out.push({ field: at, rule: 'end-stream', detail: 'an envelope after the end-of-stream message' });
                if ((flags & 1) && (!enc || enc === 'identity'))
                    out.push({ field: `${at}.flags`, rule: 'envelope', detail: 'compressed flag without Connect-Content-Encoding' });
                if (flags & ~3)
                    out.push({ field: `${at}.flags`, rule: 'envelope', detail: `reserved flag bits set: ${flags}` });
                if (flags & 1)
                    out.push({ field: `${at}.flags`, rule: 'envelope', detail: 'compressed envelopes cannot be checked' });
                else if (flags & 2) checkEndStream(payload, out);
                else out.push(...checkJsonText(type, payload, at));
                if (out.length) return fail(out);
                ok.push(frame);
                index++;
                if (flags & 2) {
                    ended = true;
                    // before the client can see the end (a frame after it is still refused)
                    trace({ rpc: rbase.rpc, status: 200, frames: index, ended: true });
                }
            }
            if (ok.length && !res.write(ok.length === 1 ? ok[0] : Buffer.concat(ok))) {
                ur.pause();
                res.once('drain', () => ur.resume());
            }
        });
        ur.on('end', () => {
            if (failed || clientGone()) return;
            const out = [];
            if (pending.length) out.push({ field: `[frame ${index}]`, rule: 'envelope', detail: `stream ended inside an envelope (${pending.length} bytes)` });
            if (!ended) out.push({ field: 'end-stream', rule: 'end-stream', detail: 'the stream ended without an end-of-stream message' });
            if (out.length) return fail(out);
            res.end();
        });
        ur.on('error', () => {
            if (!failed && !clientGone()) res.destroy();
        });
        res.on('close', () => {
            // The client left first (e.g. after the start frame of a background process).
            if (!failed && !ended && !res.writableFinished) trace({ rpc: rbase.rpc, status: 200, frames: index, ended: false, client_closed: true });
        });
    }
}

// ------------------------------------------------------------------ other paths: Prism

// Content types Prism may see as they are (text); everything else gets a placeholder.
function textual(ct) {
    const m = mediaType(ct);
    return m === '' || m.endsWith('json') || m.startsWith('text/') || m === 'application/x-www-form-urlencoded';
}

class PrismRoute {
    constructor(face, prism) {
        this.face = face;
        this.prism = prism;
        this.seq = 0;
        this.pending = new Map();
    }

    // Client -> here: send Prism the shadow of the request.
    async handle(req, res) {
        const id = String(++this.seq);
        const entry = { id, req, res, replayed: false, faceRes: null, faceBody: null, body: null };
        this.pending.set(id, entry);
        res.on('close', () => {
            if (!res.writableFinished && entry.faceRes) entry.faceRes.destroy();
        });
        const hasBody = Number(req.headers['content-length'] || 0) > 0 || !!req.headers['transfer-encoding'];
        const ct = req.headers['content-type'];
        let shadow = null;
        if (hasBody && textual(ct)) {
            try {
                entry.body = await readAll(req, MAX_BODY);
            } catch (e) {
                this.pending.delete(id);
                sendJson(res, 413, { code: 413, message: `connect-check: ${e.message}` });
                return;
            }
            shadow = entry.body;
        } else if (hasBody) {
            req.pause();   // the real bytes go to the face once Prism has accepted the request
            shadow = Buffer.from('x');
        } else if (req.headers['content-length'] === '0') {
            shadow = Buffer.alloc(0);
        }
        const headers = forwardHeaders(req.headers, this.prism);
        headers[ID_HEADER] = id;
        if (shadow) headers['content-length'] = String(shadow.length);
        const pr = http.request({ host: this.prism.hostname, port: this.prism.port, method: req.method,
            path: req.url, headers });
        pr.on('error', (e) => {
            this.pending.delete(id);
            report({ dir: 'request', source: 'connect-check', spec: 'envd.yaml', method: req.method, path: req.url, rule: 'prism-unreachable', detail: e.message });
            sendJson(res, 502, { code: 502, message: `connect-check: prism: ${e.message}` });
        });
        pr.on('response', (presp) => this.verdict(entry, presp));
        pr.end(shadow || undefined);
    }

    // Prism -> replay listener: the shadow passed request validation; do the real request.
    replay(rreq, rres) {
        const entry = this.pending.get(rreq.headers[ID_HEADER]);
        rreq.resume();
        if (!entry) {
            sendJson(rres, 500, { code: 500, message: 'connect-check: replay of an unknown request' });
            return;
        }
        entry.replayed = true;
        const { req } = entry;
        const headers = forwardHeaders(req.headers, this.face);
        const up = http.request({ host: this.face.hostname, port: this.face.port, method: req.method,
            path: req.url, headers });
        up.on('error', (e) => {
            entry.faceError = e.message;
            sendJson(rres, 502, { code: 502, message: `connect-check: face: ${e.message}` });
        });
        up.on('response', async (ur) => {
            entry.faceRes = ur;
            const hdrs = responseHeaders(ur.headers, true);
            const noBody = ur.statusCode === 204 || ur.statusCode === 304 || req.method === 'HEAD';
            if (noBody || textual(ur.headers['content-type'])) {
                try {
                    entry.faceBody = await readAll(ur, MAX_BODY);
                } catch (e) {
                    sendJson(rres, 502, { code: 502, message: `connect-check: face response: ${e.message}` });
                    return;
                }
                rres.writeHead(ur.statusCode, { ...hdrs, 'content-length': entry.faceBody.length });
                rres.end(entry.faceBody);
            } else {
                ur.pause();   // streamed to the client after Prism's verdict
                rres.writeHead(ur.statusCode, { ...hdrs, 'content-length': 1 });
                rres.end('x');
            }
        });
        if (entry.body) up.end(entry.body);
        else if (Number(req.headers['content-length'] || 0) > 0 || req.headers['transfer-encoding']) req.pipe(up);
        else up.end();
    }

    // Prism's answer to the shadow decides what the client gets.
    async verdict(entry, presp) {
        const { req, res, id } = entry;
        let pbody;
        try {
            pbody = await readAll(presp, MAX_BODY);
        } catch {
            pbody = Buffer.alloc(0);
        }
        this.pending.delete(id);
        let problem = null;
        if (mediaType(presp.headers['content-type']) === 'application/problem+json') {
            try {
                const p = JSON.parse(pbody.toString('utf8'));
                if (typeof p.type === 'string' && p.type.startsWith('https://stoplight.io/prism/errors#')) problem = p;
            } catch { /* the face's own body */ }
        }
        let vlist = [];
        if (presp.headers['sl-violations']) {
            try {
                vlist = JSON.parse(presp.headers['sl-violations']);
            } catch {
                vlist = [{ location: [], severity: 'Error', message: presp.headers['sl-violations'] }];
            }
        } else if (problem && Array.isArray(problem.validation)) {
            vlist = problem.validation;
        }
        if (problem && !vlist.length)
            vlist = [{ location: [], severity: 'Error', code: problem.type.split('#')[1], message: `${problem.title}: ${problem.detail || ''}` }];
        if (!entry.replayed && !problem && !entry.faceError) {
            vlist = [{ location: [], severity: 'Error', code: 'prism', message: `Prism answered ${presp.statusCode} without forwarding` }];
        }
        if (!vlist.length) {
            if (entry.faceError) {
                sendJson(res, 502, { code: 502, message: `connect-check: face: ${entry.faceError}` });
                return;
            }
            const ur = entry.faceRes;
            const hdrs = responseHeaders(ur.headers, entry.faceBody !== null);
            trace({ method: req.method, path: req.url, status: ur.statusCode });
            if (entry.faceBody !== null) {
                res.writeHead(ur.statusCode, { ...hdrs, 'content-length': entry.faceBody.length });
                res.end(entry.faceBody);
            } else {
                res.writeHead(ur.statusCode, hdrs);
                ur.pipe(res);
                ur.resume();
            }
            return;
        }
        const dir = entry.replayed ? 'response' : 'request';
        const vs = vlist.map((v) => ({
            dir: (v.location && v.location[0] === 'response') ? 'response' : dir,
            source: 'prism', spec: 'envd.yaml', method: req.method, path: req.url,
            status: entry.faceRes ? entry.faceRes.statusCode : undefined,
            field: (v.location || []).join('.'), rule: String(v.code ?? v.severity),
            severity: v.severity, detail: v.message,
        }));
        vs.forEach(report);
        if (entry.faceRes) entry.faceRes.destroy();
        if (!entry.replayed && req.readable) req.resume();
        const status = entry.replayed ? 502 : (presp.statusCode >= 400 ? presp.statusCode : 400);
        sendJson(res, status, { code: status, message: summary(vs) });
    }
}

// ------------------------------------------------------------------ main

function loadProtos(dir) {
    const root = new protobuf.Root();
    root.loadSync([path.join(dir, 'process', 'process.proto'),
        path.join(dir, 'filesystem', 'filesystem.proto')], { keepCase: true });
    root.resolveAll();
    return root;
}

function listen(server, host, port) {
    return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => resolve(server.address().port));
    });
}

async function main() {
    const o = parseArgs(process.argv.slice(2));
    logPath = o.log;
    fs.writeFileSync(logPath, '');
    if (o.trace) {
        tracePath = o.trace;
        fs.writeFileSync(tracePath, '');
    }
    const root = loadProtos(o.protos);
    const face = new URL(o.face);
    const prism = new URL(o.prism);
    const connect = new ConnectRoute(root, face);
    const other = new PrismRoute(face, prism);

    const main = http.createServer((req, res) => {
        const p = req.url.split('?')[0];
        const method = connect.lookup(p);
        if (method) {
            connect.handle(req, res, method, p.slice(1)).catch((e) => sendJson(res, 500, { code: 'internal', message: `connect-check: ${e.stack}` }));
        } else if (method === null) {
            const v = { dir: 'request', spec: 'process.proto/filesystem.proto', method: req.method, path: req.url, field: ':path', rule: 'unknown-rpc', detail: `no such service or method: ${p.slice(1)}` };
            report(v);
            req.resume();
            sendJson(res, 404, { code: 'unimplemented', message: summary([v]) });
        } else {
            other.handle(req, res).catch((e) => sendJson(res, 500, { code: 500, message: `connect-check: ${e.stack}` }));
        }
    });
    const replay = http.createServer((req, res) => other.replay(req, res));
    for (const s of [main, replay]) {
        s.requestTimeout = 0;
        s.keepAliveTimeout = 30000;
    }
    const port = await listen(main, o.host, o.port);
    const rport = await listen(replay, o.host, o.replayPort);
    process.stdout.write(`connect-check: listening on http://${o.host}:${port} replay http://${o.host}:${rport}\n`);
    const stop = () => {
        main.close();
        replay.close();
        main.closeAllConnections();
        replay.closeAllConnections();
        process.exit(0);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('connect-check.mjs')) {
    main().catch((e) => {
        process.stderr.write(`connect-check: ${e.stack || e}\n`);
        process.exit(1);
    });
}
