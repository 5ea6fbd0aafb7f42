// An MCP client (the official SDK) talking to `odock serve` over HTTP and
// checking one scenario. Prints "PASS what" / "FAIL what: why" lines that the
// e2e script turns into TAP. Usage:
//   node http_client.mjs TRANSPORT SCENARIO BASE_URL KEY
// TRANSPORT: shttp (Streamable HTTP, /mcp), sse (legacy HTTP+SSE, /sse),
// ws (WebSocket, /mcp/ws; needs Node 22). SCENARIO: basic | governed.
import {Client} from '@modelcontextprotocol/sdk/client/index.js';
import {StreamableHTTPClientTransport} from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {SSEClientTransport} from '@modelcontextprotocol/sdk/client/sse.js';
import {WebSocketClientTransport} from '@modelcontextprotocol/sdk/client/websocket.js';
import {CreateMessageRequestSchema, ToolListChangedNotificationSchema} from '@modelcontextprotocol/sdk/types.js';

const [kind, scenario, base, key] = process.argv.slice(2);
let failures = 0;
const pass = (w) => console.log(`PASS ${kind} ${w}`);
const fail = (w, why) => { failures++; console.log(`FAIL ${kind} ${w}: ${why}`); };
const check = (w, cond, why) => (cond ? pass(w) : fail(w, why));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const textOf = (r) => (r && r.content && r.content[0] && r.content[0].text) || '';
async function attempt(w, fn) {
  try { await fn(); } catch (e) { fail(w, e && e.message ? e.message : String(e)); }
}
async function until(fn, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (await fn()) return true; await sleep(100); }
  return false;
}

const headers = {Authorization: `Bearer ${key}`};
function transport() {
  if (kind === 'shttp') return new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {requestInit: {headers}});
  if (kind === 'sse') return new SSEClientTransport(new URL(`${base}/sse`), {requestInit: {headers}});
  // the SDK uses the browser WebSocket API, which cannot send headers; Node
  // 22's (undici) takes them in its init object. Node 20 has none: run with 22.
  const Base = globalThis.WebSocket;
  if (!Base) throw new Error('this Node has no WebSocket: run the ws scenario with Node 22');
  globalThis.WebSocket = class extends Base { constructor(url, proto) { super(url, {protocols: [proto], headers}); } };
  return new WebSocketClientTransport(new URL(`${base.replace(/^http/, 'ws')}/mcp/ws`));
}

const client = new Client({name: `odock-e2e-${kind}`, version: '1.0.0'}, {capabilities: {sampling: {}}});
client.setRequestHandler(CreateMessageRequestSchema, async () => ({
  role: 'assistant', model: 'test-model', content: {type: 'text', text: `from the ${kind} client`},
}));
let listChanged = 0;
client.setNotificationHandler(ToolListChangedNotificationSchema, () => { listChanged++; });

async function main() {
  const t = transport();
  await client.connect(t);
  check('initialize: odock answers', client.getServerVersion()?.name === 'odock', JSON.stringify(client.getServerVersion()));
  if (kind === 'shttp') check('a session id is issued', /^[0-9a-f]{32}$/.test(t.sessionId || ''), String(t.sessionId));

  if (scenario === 'basic') {
    const tools = (await client.listTools()).tools.map((x) => x.name);
    check('tools/list has tools of both upstreams', tools.includes('everything__echo') && tools.includes('fake__hello') && tools.includes('fake__pid'), tools.join(','));
    await attempt('tools/call on two upstreams', async () => {
      const a = await client.callTool({name: 'fake__hello', arguments: {name: kind}});
      const b = await client.callTool({name: 'everything__echo', arguments: {message: kind}});
      check('tools/call on two upstreams', textOf(a) === `hello ${kind} from fake` && textOf(b) === `Echo: ${kind}`, JSON.stringify([a, b]));
    });
    await attempt('resources', async () => {
      const rs = (await client.listResources()).resources.map((r) => r.uri);
      check('resources/list merges both upstreams', rs.includes('fake+fake://doc/1') && rs.some((u) => u.startsWith('everything+demo://')), rs.slice(0, 5).join(','));
      const rd = await client.readResource({uri: 'fake+fake://doc/2'});
      check('resources/read', rd.contents[0].text === 'content of fake://doc/2', JSON.stringify(rd));
    });
    await attempt('prompts', async () => {
      const ps = (await client.listPrompts()).prompts.map((p) => p.name);
      const g = await client.getPrompt({name: 'fake__greet', arguments: {who: kind}});
      check('prompts/list and prompts/get', ps.includes('everything__simple-prompt') && g.messages[0].content.text === `hi ${kind}`, JSON.stringify(g));
    });
    await attempt('progress', async () => {
      const seen = [];
      const r = await client.callTool({name: 'fake__slow', arguments: {ms: 300}}, undefined, {onprogress: (p) => seen.push(p.progress)});
      check('progress notifications reach the client', seen.length >= 2 && textOf(r) === 'slow done', JSON.stringify(seen));
    });
    await attempt('sampling', async () => {
      const r = await client.callTool({name: 'fake__sample', arguments: {}});
      check('sampling/createMessage round trip', textOf(r) === `sampled: from the ${kind} client`, JSON.stringify(r));
    });
    await attempt('list_changed', async () => {
      const before = listChanged;
      await client.callTool({name: 'fake__add_tool', arguments: {}});
      await until(() => listChanged > before, 3000);
      check('tools/list_changed reaches the client', listChanged > before, String(listChanged));
    });
    await attempt('cancellation', async () => {
      const ac = new AbortController();
      const p = client.callTool({name: 'fake__hang', arguments: {}}, undefined, {signal: ac.signal});
      setTimeout(() => ac.abort('test'), 300);
      let threw = false;
      try { await p; } catch { threw = true; }
      const r = await client.callTool({name: 'fake__hello', arguments: {}});
      check('a cancelled call, then calls go on', threw && textOf(r) === 'hello world from fake', JSON.stringify(r));
    });
    await attempt('ping', async () => { await client.ping(); pass('ping'); });
  }

  if (scenario === 'governed') {
    const tools = (await client.listTools()).tools.map((x) => x.name);
    check('grants filter tools/list', tools.includes('everything__echo') && !tools.includes('everything__get-sum'), tools.join(','));
    let err = null;
    try { await client.callTool({name: 'everything__get-sum', arguments: {a: 1, b: 2}}); } catch (e) { err = e; }
    check('a tool outside the grants is denied: tool_not_allowed', err && err.code === -32001 && err.data && err.data.reason === 'tool_not_allowed', JSON.stringify(err));
    err = null;
    try { await client.callTool({name: 'fake__leak_secret', arguments: {}}); } catch (e) { err = e; }
    check('a guardrail blocks a secret in a result', err && err.code === -32001 && /guardrail/.test(err.data && err.data.reason), JSON.stringify(err));
    const ok = await client.callTool({name: 'fake__hello', arguments: {name: 'gov'}});
    check('an allowed call goes through', textOf(ok) === 'hello gov from fake', JSON.stringify(ok));
  }
  if (kind === 'shttp') await t.terminateSession();
  await client.close();
}

const guard = setTimeout(() => { fail('scenario finished in time', 'timeout'); process.exit(1); }, 45000);
main().then(() => { clearTimeout(guard); process.exit(failures ? 1 : 0); },
  (e) => { clearTimeout(guard); fail('scenario ran', e && e.stack ? e.stack : String(e)); process.exit(1); });
