#!/usr/bin/env node
// A WebSocket MCP server for odock's tests: RFC 6455 by hand (node builtins
// only), one text frame per JSON-RPC message, each connection bridged to its
// own child process speaking MCP over stdio.
// usage: node ws_bridge.mjs --port P [--log FILE] -- COMMAND ARGS...
// Prints "listening P". The log gets one JSON line per handshake, with
// whether an Authorization header came and its sha256 (never the value).
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import readline from 'node:readline';

const argv = process.argv.slice(2);
const sep = argv.indexOf('--');
const opt = (k) => { const i = argv.indexOf(k); return i >= 0 && i < sep ? argv[i + 1] : undefined; };
const port = parseInt(opt('--port') || '0', 10);
const log = opt('--log');
const cmd = argv.slice(sep + 1);

function frame(text) {
  const data = Buffer.from(text);
  let head;
  if (data.length < 126) head = Buffer.from([0x81, data.length]);
  else if (data.length < 65536) { head = Buffer.alloc(4); head[0] = 0x81; head[1] = 126; head.writeUInt16BE(data.length, 2); }
  else { head = Buffer.alloc(10); head[0] = 0x81; head[1] = 127; head.writeBigUInt64BE(BigInt(data.length), 2); }
  return Buffer.concat([head, data]);
}

const server = http.createServer((req, res) => { res.writeHead(426); res.end(); });
server.on('upgrade', (req, sock) => {
  const auth = req.headers['authorization'];
  if (log) fs.appendFileSync(log, JSON.stringify({ path: req.url, auth_present: !!auth,
    auth_sha256: auth ? crypto.createHash('sha256').update(auth).digest('hex') : null }) + '\n');
  const accept = crypto.createHash('sha1').update(req.headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  sock.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
             `Sec-WebSocket-Accept: ${accept}\r\n\r\n`);
  const child = spawn(cmd[0], cmd.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
  readline.createInterface({ input: child.stdout }).on('line', (l) => { if (l.trim()) sock.write(frame(l)); });
  child.on('exit', () => sock.destroy());
  let buf = Buffer.alloc(0), msg = [];
  sock.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      if (buf.length < 2) return;
      const fin = buf[0] & 0x80, op = buf[0] & 0x0f, masked = buf[1] & 0x80;
      let len = buf[1] & 0x7f, off = 2;
      if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); off = 10; }
      const need = off + (masked ? 4 : 0) + len;
      if (buf.length < need) return;
      const mask = masked ? buf.subarray(off, off + 4) : null;
      const payload = Buffer.from(buf.subarray(off + (masked ? 4 : 0), need));
      if (mask) for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
      buf = buf.subarray(need);
      if (op === 0x8) { sock.end(Buffer.from([0x88, 0])); child.kill(); return; }
      if (op === 0x9) { sock.write(Buffer.concat([Buffer.from([0x8a, payload.length]), payload])); continue; }
      if (op === 0x1 || op === 0x0) { msg.push(payload); if (fin) { child.stdin.write(Buffer.concat(msg).toString() + '\n'); msg = []; } }
    }
  });
  sock.on('close', () => child.kill());
  sock.on('error', () => child.kill());
});
server.listen(port, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));
