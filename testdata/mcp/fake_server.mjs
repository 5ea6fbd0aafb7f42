#!/usr/bin/env node
// A small MCP server over stdio for odock's tests, with node builtins only.
// It can crash, hang, report progress, ask the client for sampling, change
// its tool list, and return text that guardrails should mask or block.
// Env: FAKE_NAME (server name in answers), FAKE_PAGE (tools per page, default 2),
//      FAKE_EXIT_AT_START=1 (exit at once: a server that cannot start).
import readline from 'node:readline';

if (process.env.FAKE_EXIT_AT_START === '1') {
  process.stderr.write('fake: refusing to start\n');
  process.exit(2);
}
const NAME = process.env.FAKE_NAME || 'fake';
const PAGE = parseInt(process.env.FAKE_PAGE || '2', 10);
const send = (m) => process.stdout.write(JSON.stringify(m) + '\n');
const log = (s) => process.stderr.write(`fake(${NAME}): ${s}\n`);

const tools = [
  {name: 'hello', description: 'Greets', inputSchema: {type: 'object', properties: {name: {type: 'string'}}}},
  {name: 'echo_args', description: 'Returns its arguments as JSON', inputSchema: {type: 'object'}},
  {name: 'crash', description: 'Exits the process', inputSchema: {type: 'object'}},
  {name: 'hang', description: 'Never answers', inputSchema: {type: 'object'}},
  {name: 'slow', description: 'Answers after ms, with progress', inputSchema: {type: 'object', properties: {ms: {type: 'number'}}}},
  {name: 'leak_email', description: 'Returns an e-mail address', inputSchema: {type: 'object'}},
  {name: 'leak_secret', description: 'Returns an AWS key', inputSchema: {type: 'object'}},
  {name: 'sample', description: 'Asks the client to sample', inputSchema: {type: 'object'}},
  {name: 'add_tool', description: 'Adds the tool "extra"', inputSchema: {type: 'object'}},
  {name: 'pid', description: 'Returns the process id', inputSchema: {type: 'object'}},
  {name: 'touch', description: 'Sends notifications/resources/updated for uri, then answers', inputSchema: {type: 'object', properties: {uri: {type: 'string'}}}},
  {name: 'log', description: 'Logs "mail <user>@<domain>" (notifications/message), then answers', inputSchema: {type: 'object', properties: {user: {type: 'string'}, domain: {type: 'string'}}}},
  {name: 'raw', description: 'Answers with a line written by hand (which: spaced, nul, dupkey, esckey, badreq)',
   inputSchema: {type: 'object', properties: {which: {type: 'string'}}}},
];
// Answers as no JSON serializer writes them: odock must pass the first on as
// written, and never pass on what its guardrails did not see (the rest).
const AKIA = 'AKIAIOSFODNN7EXAMPLE';
const RAW = {
  spaced: '{"jsonrpc":"2.0","id":ID,"result": {"content": [ {"type": "text", "text": "spaced out"} ] , "isError": false} }',
  nul: `{"jsonrpc":"2.0","id":ID,"result":{"content":[{"type":"text","text":"ok\\u0000 the key is ${AKIA}"}]}}`,
  dupkey: `{"jsonrpc":"2.0","id":ID,"result":{"content":[{"type":"text","text":"first"}]},"result":{"content":[{"type":"text","text":"${AKIA}"}]}}`,
  esckey: `{"jsonrpc":"2.0","id":ID,"r\\u0065sult":{"content":[{"type":"text","text":"first"}]},"result":{"content":[{"type":"text","text":"${AKIA}"}]}}`,
  // an unreadable request of the server's own under the same id, then the answer
  badreq: `{"jsonrpc":"2.0","id":ID,"method":"ping","params":{},"params":{}}\n{"jsonrpc":"2.0","id":ID,"result":{"content":[{"type":"text","text":"answered"}]}}`,
};
const prompts = [{name: 'greet', description: 'A greeting', arguments: [{name: 'who', required: true}]}];
const resources = [{uri: 'fake://doc/1', name: 'doc1', mimeType: 'text/plain'},
                   {uri: 'fake://doc/2', name: 'doc2', mimeType: 'text/plain'}];
const text = (t) => ({content: [{type: 'text', text: t}]});

let nextId = 1;
const waiting = new Map(); // our requests to the client

function page(list, key, cursor) {
  const off = cursor ? parseInt(cursor, 10) : 0;
  const out = {[key]: list.slice(off, off + PAGE)};
  if (off + PAGE < list.length) out.nextCursor = String(off + PAGE);
  return out;
}

async function call(id, p) {
  const a = p.arguments || {};
  const tok = p._meta && p._meta.progressToken;
  switch (p.name) {
    case 'hello': return text(`hello ${a.name || 'world'} from ${NAME}`);
    case 'echo_args': return text(JSON.stringify(a));
    case 'crash': log('crashing on request'); process.exit(3);
    case 'hang': return new Promise(() => {});
    case 'slow': {
      const ms = a.ms || 300;
      for (let i = 1; i <= 3; i++) {
        await new Promise((r) => setTimeout(r, ms / 3));
        if (tok !== undefined) send({jsonrpc: '2.0', method: 'notifications/progress', params: {progressToken: tok, progress: i, total: 3}});
      }
      return text('slow done');
    }
    case 'leak_email': return text('write to alice.smith@example.com for access');
    case 'leak_secret': return text('the key is AKIAIOSFODNN7EXAMPLE, keep it safe');
    case 'sample': {
      const rid = nextId++;
      const answer = await new Promise((resolve) => {
        waiting.set(rid, resolve);
        send({jsonrpc: '2.0', id: rid, method: 'sampling/createMessage', params: {
          messages: [{role: 'user', content: {type: 'text', text: 'say something'}}], maxTokens: 10}});
      });
      if (answer.error) return {content: [{type: 'text', text: 'sampling error: ' + answer.error.message}], isError: true};
      return text('sampled: ' + answer.result.content.text);
    }
    case 'add_tool':
      if (!tools.find((t) => t.name === 'extra')) tools.push({name: 'extra', description: 'Added later', inputSchema: {type: 'object'}});
      setTimeout(() => send({jsonrpc: '2.0', method: 'notifications/tools/list_changed'}), 10);
      return text('added');
    case 'extra': return text('extra works');
    case 'pid': return text(String(process.pid));
    case 'raw': return {raw: RAW[a.which] || RAW.spaced};
    case 'touch':
      send({jsonrpc: '2.0', method: 'notifications/resources/updated', params: {uri: a.uri}});
      return text('touched');
    case 'log':
      send({jsonrpc: '2.0', method: 'notifications/message', params: {level: 'info', logger: 'calls', data: `mail ${a.user}@${a.domain}`}});
      return text('logged');
    default: throw {code: -32602, message: `Unknown tool: ${p.name}`};
  }
}

async function handle(m) {
  if (m.id !== undefined && m.method === undefined) { // an answer to us
    const r = waiting.get(m.id);
    if (r) { waiting.delete(m.id); r(m); }
    return;
  }
  if (m.id === undefined) {
    if (m.method === 'notifications/cancelled') log(`cancelled ${m.params.requestId}`);
    return;
  }
  const p = m.params || {};
  try {
    let result;
    switch (m.method) {
      case 'initialize':
        result = {protocolVersion: p.protocolVersion, serverInfo: {name: NAME, version: '1.0.0'},
                  capabilities: {tools: {listChanged: true}, prompts: {}, resources: {subscribe: true}, logging: {}}};
        log(`initialize ${p.protocolVersion} caps=${JSON.stringify(p.capabilities)}`);
        break;
      case 'ping': result = {}; break;
      case 'tools/list': result = page(tools, 'tools', p.cursor); break;
      case 'tools/call':
        result = await call(m.id, p);
        if (p.name === 'raw') { process.stdout.write(result.raw.replaceAll('ID', JSON.stringify(m.id)) + '\n'); return; }
        break;
      case 'prompts/list': result = page(prompts, 'prompts', p.cursor); break;
      case 'prompts/get':
        result = {messages: [{role: 'user', content: {type: 'text', text: `hi ${(p.arguments || {}).who}`}}]};
        break;
      case 'resources/list': result = page(resources, 'resources', p.cursor); break;
      case 'resources/templates/list': result = {resourceTemplates: [{uriTemplate: 'fake://doc/{n}', name: 'doc'}]}; break;
      case 'resources/read':
        result = {contents: [{uri: p.uri, mimeType: 'text/plain', text: `content of ${p.uri}`}]};
        break;
      case 'resources/subscribe': case 'resources/unsubscribe': log(`${m.method} ${p.uri}`); result = {}; break;
      case 'logging/setLevel': log(`setLevel ${p.level}`); result = {}; break;
      default: throw {code: -32601, message: 'Method not found'};
    }
    send({jsonrpc: '2.0', id: m.id, result});
  } catch (e) {
    send({jsonrpc: '2.0', id: m.id, error: {code: e.code || -32603, message: e.message || String(e)}});
  }
}

log(`started pid ${process.pid}`);
const rl = readline.createInterface({input: process.stdin});
rl.on('line', (line) => {
  if (!line.trim()) return;
  let m;
  try { m = JSON.parse(line); } catch { send({jsonrpc: '2.0', id: null, error: {code: -32700, message: 'Parse error'}}); return; }
  handle(m);
});
// FAKE_IGNORE_STDIN_CLOSE=1: like servers that only stop on a signal
if (process.env.FAKE_IGNORE_STDIN_CLOSE === '1') rl.on('close', () => setInterval(() => {}, 1 << 30));
else rl.on('close', () => process.exit(0));
