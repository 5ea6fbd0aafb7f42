// The conformance client cannot send headers, and odock wants a virtual key:
// this forwards every request byte for byte (Host and Origin untouched, so
// DNS-rebinding checks still reach odock) and adds Authorization.
// Usage: node keyproxy.mjs LISTEN_PORT TARGET_PORT KEY
import http from 'node:http';

const [listen, target, key] = process.argv.slice(2);
const agent = new http.Agent({keepAlive: true});
http.createServer((req, res) => {
  const headers = {...req.headers, authorization: `Bearer ${key}`};
  const up = http.request({host: '127.0.0.1', port: Number(target), method: req.method, path: req.url, headers, agent}, (r) => {
    res.writeHead(r.statusCode, r.headers);
    r.pipe(res);
  });
  up.on('error', (e) => { if (!res.headersSent) res.writeHead(502); res.end(String(e)); });
  req.pipe(up);
  res.on('close', () => up.destroy());
}).listen(Number(listen), '127.0.0.1');
