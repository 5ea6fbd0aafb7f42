// tests/bench/mcp_bench.mjs — MCP tools/call throughput with the official SDK client.
//
//   node mcp_bench.mjs [options] [--env K=V ...] --stdio CMD [ARG ...]   (--stdio comes last)
//   node mcp_bench.mjs [options] [--header 'Name: value' ...] --url http://127.0.0.1:P/mcp
// options: --tool NAME (default echo) --clients N (default 1) --seconds S (default 5)
//          --warmup S (default 2)
// Each client is its own MCP session (its own child process for --stdio, its
// own HTTP session for --url) calling the tool back to back; with N clients
// N calls are in flight at once. Prints one JSON line:
//   {"clients","tool","calls","seconds","calls_per_s","p50_ms","p99_ms","errors","total_calls"}
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { setMaxListeners } from "node:events";

const argv = process.argv.slice(2);
const opt = { tool: "echo", clients: 1, seconds: 5, warmup: 2, env: {}, headers: {} };
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === "--stdio") {
    opt.command = argv[++i];
    opt.args = argv.slice(i + 1); // the rest of the line is the command's arguments
    break;
  } else if (a === "--url") opt.url = argv[++i];
  else if (a === "--tool") opt.tool = argv[++i];
  else if (a === "--clients") opt.clients = Number(argv[++i]);
  else if (a === "--seconds") opt.seconds = Number(argv[++i]);
  else if (a === "--warmup") opt.warmup = Number(argv[++i]);
  else if (a === "--env") { const [k, ...v] = argv[++i].split("="); opt.env[k] = v.join("="); }
  else if (a === "--header") { const s = argv[++i]; const c = s.indexOf(":"); opt.headers[s.slice(0, c).trim()] = s.slice(c + 1).trim(); }
  else { console.error(`mcp_bench: unknown argument ${a}`); process.exit(2); }
}
if (!opt.command && !opt.url) { console.error("mcp_bench: --stdio CMD or --url URL"); process.exit(2); }

async function connect() {
  const client = new Client({ name: "odock-bench", version: "0.0.0" });
  const transport = opt.url
    ? new StreamableHTTPClientTransport(new URL(opt.url), { requestInit: { headers: opt.headers } })
    : new StdioClientTransport({ command: opt.command, args: opt.args, env: { ...process.env, ...opt.env }, stderr: "ignore" });
  await client.connect(transport);
  // Node 20's fetch (undici) hangs one "abort" listener per request on the
  // transport's long-lived AbortSignal and drops it only when the request is
  // garbage-collected; past 1500 it prints a MaxListenersExceededWarning (an
  // Error with a stack trace, written to stderr) on every further call. That
  // is client overhead which grows with the server's speed, so it is switched
  // off here for every --url target alike (0 = no limit, no warning).
  if (transport._abortController) setMaxListeners(0, transport._abortController.signal);
  return client;
}

const timeout = { timeout: 30000 };
const clients = await Promise.all(Array.from({ length: opt.clients }, connect));
// resolve the tool's exposed name (a gateway may prefix it, e.g. everything__echo)
const { tools } = await clients[0].listTools();
const tool = tools.find((t) => t.name === opt.tool) || tools.find((t) => t.name.endsWith(`__${opt.tool}`) || t.name.endsWith(`_${opt.tool}`));
if (!tool) { console.error(`mcp_bench: no tool ${opt.tool} among ${tools.map((t) => t.name).join(", ")}`); process.exit(1); }

let errors = 0, total = 0; // total: every call sent, warm-up included (to compare with a ledger)
async function loop(client, until, lat) {
  let n = 0;
  while (performance.now() < until) {
    const t0 = performance.now();
    try {
      const r = await client.callTool({ name: tool.name, arguments: { message: `hello from the odock benchmark #${total}` } }, undefined, timeout);
      if (r.isError) errors++;
      else if (lat) lat.push(performance.now() - t0);
    } catch (e) {
      errors++;
      if (errors <= 3) console.error(`mcp_bench: ${e.message}`);
    }
    n++;
    total++;
  }
  return n;
}

// warm-up (JIT, connection pools), then the measured run
await Promise.all(clients.map((c) => loop(c, performance.now() + opt.warmup * 1000, null)));
errors = 0;
const lat = [];
const t0 = performance.now();
await Promise.all(clients.map((c) => loop(c, t0 + opt.seconds * 1000, lat)));
const secs = (performance.now() - t0) / 1000;
lat.sort((a, b) => a - b);
const pct = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.round((p / 100) * (lat.length - 1)))] : 0);
console.log(JSON.stringify({
  clients: opt.clients, tool: tool.name, calls: lat.length, seconds: +secs.toFixed(2),
  calls_per_s: +(lat.length / secs).toFixed(1), p50_ms: +pct(50).toFixed(3), p99_ms: +pct(99).toFixed(3), errors, total_calls: total,
}));
await Promise.allSettled(clients.map((c) => c.close()));
process.exit(0);
