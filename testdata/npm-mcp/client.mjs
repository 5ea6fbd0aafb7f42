// An MCP client (the official SDK) that spawns `odock mcp` over stdio and
// checks one scenario. Prints "PASS what" / "FAIL what: why" lines that the
// e2e script turns into TAP. Usage:
//   node client.mjs SCENARIO ODOCK_BIN [odock args...]
// The environment (ODOCK_API_KEY, ODOCK_DB...) goes to odock as it is.
import {Client} from '@modelcontextprotocol/sdk/client/index.js';
import {StdioClientTransport} from '@modelcontextprotocol/sdk/client/stdio.js';
import {CreateMessageRequestSchema, ToolListChangedNotificationSchema} from '@modelcontextprotocol/sdk/types.js';

const [scenario, bin, ...args] = process.argv.slice(2);
let failures = 0;
const pass = (w) => console.log(`PASS ${w}`);
const fail = (w, why) => { failures++; console.log(`FAIL ${w}: ${why}`); };
const check = (w, cond, why) => (cond ? pass(w) : fail(w, why));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const textOf = (r) => (r && r.content && r.content[0] && r.content[0].text) || '';
async function attempt(w, fn) {
  try { await fn(); } catch (e) { fail(w, e && e.message ? e.message : String(e)); }
}

const transport = new StdioClientTransport({command: bin, args: ['mcp', ...args], env: process.env, stderr: 'pipe'});
let stderr = '';
transport.stderr.on('data', (d) => { stderr += d.toString(); });
const client = new Client({name: 'odock-e2e', version: '1.0.0'}, {capabilities: {sampling: {}}});
client.setRequestHandler(CreateMessageRequestSchema, async () => ({
  role: 'assistant', model: 'test-model', content: {type: 'text', text: 'from the client'},
}));
let listChanged = 0;
client.setNotificationHandler(ToolListChangedNotificationSchema, () => { listChanged++; });

async function until(fn, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (await fn()) return true; await sleep(100); }
  return false;
}

async function main() {
  await client.connect(transport);
  check('initialize: odock answers', client.getServerVersion()?.name === 'odock', JSON.stringify(client.getServerVersion()));

  if (scenario === 'basic') {
    let tools = (await client.listTools()).tools.map((t) => t.name);
    check('tools/list has tools of both upstreams', tools.includes('everything__echo') && tools.includes('fake__hello'), tools.join(','));
    check('tools/list fetched every upstream page', tools.includes('fake__pid'), tools.join(','));
    check('tool names are [A-Za-z0-9_-]{1,64}', tools.every((n) => /^[A-Za-z0-9_-]{1,64}$/.test(n)), tools.join(','));
    await attempt('tools/call routed to fake', async () => {
      const r = await client.callTool({name: 'fake__hello', arguments: {name: 'bob'}});
      check('tools/call routed to fake', textOf(r) === 'hello bob from fake', JSON.stringify(r));
    });
    await attempt('tools/call routed to everything', async () => {
      const r = await client.callTool({name: 'everything__echo', arguments: {message: 'hi'}});
      check('tools/call routed to everything', textOf(r) === 'Echo: hi', JSON.stringify(r));
    });
    await attempt('resources', async () => {
      const rs = (await client.listResources()).resources.map((r) => r.uri);
      check('resources/list merges and wraps URIs', rs.includes('fake+fake://doc/1') && rs.some((u) => u.startsWith('everything+demo://')), rs.join(','));
      const rd = await client.readResource({uri: 'fake+fake://doc/2'});
      check('resources/read unwraps and rewraps', rd.contents[0].text === 'content of fake://doc/2' && rd.contents[0].uri === 'fake+fake://doc/2', JSON.stringify(rd));
      const tp = (await client.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate);
      check('resources/templates/list wraps templates', tp.includes('fake+fake://doc/{n}'), tp.join(','));
    });
    await attempt('prompts', async () => {
      const ps = (await client.listPrompts()).prompts.map((p) => p.name);
      check('prompts/list namespaced', ps.includes('fake__greet') && ps.includes('everything__simple-prompt'), ps.join(','));
      const g = await client.getPrompt({name: 'fake__greet', arguments: {who: 'ann'}});
      check('prompts/get routed', g.messages[0].content.text === 'hi ann', JSON.stringify(g));
    });
    await attempt('progress', async () => {
      const seen = [];
      const r = await client.callTool({name: 'fake__slow', arguments: {ms: 300}}, undefined, {onprogress: (p) => seen.push(p.progress)});
      check('progress notifications reach the client', seen.length >= 2 && textOf(r) === 'slow done', JSON.stringify(seen));
    });
    await attempt('cancellation', async () => {
      const ac = new AbortController();
      const p = client.callTool({name: 'fake__hang', arguments: {}}, undefined, {signal: ac.signal});
      setTimeout(() => ac.abort('test'), 300);
      let threw = false;
      try { await p; } catch { threw = true; }
      const forwarded = await until(() => /cancelled \d+/.test(stderr), 3000);
      check('cancellation is forwarded upstream with its id remapped', threw && forwarded, stderr.slice(-300));
      const r = await client.callTool({name: 'fake__hello', arguments: {}});
      check('calls go on after a cancellation', textOf(r) === 'hello world from fake', JSON.stringify(r));
    });
    await attempt('sampling', async () => {
      const r = await client.callTool({name: 'fake__sample', arguments: {}});
      check('sampling/createMessage round trip through odock', textOf(r) === 'sampled: from the client', JSON.stringify(r));
    });
    await attempt('list_changed', async () => {
      const before = listChanged;
      await client.callTool({name: 'fake__add_tool', arguments: {}});
      await until(() => listChanged > before, 3000);
      tools = (await client.listTools()).tools.map((t) => t.name);
      check('tools/list_changed from an upstream reaches the client', listChanged > before && tools.includes('fake__extra'), `${listChanged} ${tools}`);
      const r = await client.callTool({name: 'fake__extra', arguments: {}});
      check('a tool added later can be called', textOf(r) === 'extra works', JSON.stringify(r));
    });
    await attempt('ping', async () => { await client.ping(); pass('ping'); });
  }

  if (scenario === 'crash') {
    const pid1 = textOf(await client.callTool({name: 'fake__pid', arguments: {}}));
    let err = null;
    try { await client.callTool({name: 'fake__crash', arguments: {}}); } catch (e) { err = e; }
    check('a call whose upstream crashes gets an error', err && /failed|unavailable/i.test(err.message), String(err));
    const r = await client.callTool({name: 'everything__echo', arguments: {message: 'still here'}});
    check('the other upstream keeps working', textOf(r) === 'Echo: still here', JSON.stringify(r));
    const tools = (await client.listTools()).tools.map((t) => t.name);
    check('the crashed upstream\'s tools are gone', !tools.includes('fake__pid') && tools.includes('everything__echo'), tools.join(','));
    let pid2 = '';
    await until(async () => {
      try { pid2 = textOf(await client.callTool({name: 'fake__pid', arguments: {}})); return true; } catch { return false; }
    }, 8000);
    check('the crashed upstream is restarted', pid2 && pid2 !== pid1, `${pid1} -> ${pid2}`);
    check('list_changed was sent', listChanged >= 2, String(listChanged));
  }

  if (scenario === 'governed') {
    const tools = (await client.listTools()).tools.map((t) => t.name);
    check('a tool the key may not use is absent from tools/list', tools.includes('everything__echo') && !tools.includes('everything__get-sum'), tools.join(','));
    let err = null;
    try { await client.callTool({name: 'everything__get-sum', arguments: {a: 1, b: 2}}); } catch (e) { err = e; }
    check('calling it anyway is denied with reason tool_not_allowed', err && err.code === -32001 && err.data && err.data.reason === 'tool_not_allowed', JSON.stringify(err));
    const m = await client.callTool({name: 'fake__leak_email', arguments: {}});
    check('guardrail masks an e-mail in a tool result', !textOf(m).includes('alice.smith@example.com') && textOf(m).startsWith('write to '), textOf(m));
    err = null;
    try { await client.callTool({name: 'fake__leak_secret', arguments: {}}); } catch (e) { err = e; }
    check('guardrail blocks a secret in a tool result', err && err.code === -32001 && /guardrail/.test(err.data && err.data.reason), JSON.stringify(err));
    const ok = await client.callTool({name: 'fake__hello', arguments: {name: 'x'}});
    check('an allowed call goes through', textOf(ok) === 'hello x from fake', JSON.stringify(ok));
  }
  await client.close();
  await until(() => transport.pid === undefined || /exited|AddressSanitizer/.test(stderr) || true, 0);
  await sleep(500);
  check('odock exits without a sanitizer report', !/AddressSanitizer|runtime error:/.test(stderr), stderr.slice(-1500));
}

const guard = setTimeout(() => { fail('scenario finished in time', 'timeout'); console.log(stderr.slice(-2000)); process.exit(1); }, 45000);
main().then(() => { clearTimeout(guard); if (failures) console.log('--- odock stderr ---\n' + stderr.slice(-3000)); process.exit(failures ? 1 : 0); },
  (e) => { clearTimeout(guard); fail('scenario ran', e && e.stack ? e.stack : String(e)); console.log(stderr.slice(-3000)); process.exit(1); });
