#!/usr/bin/env node
// testdata/fake-upstream.mjs — a fake model provider for end-to-end tests:
// OpenAI, Azure OpenAI, Anthropic and Gemini wire formats over real HTTP and
// real SSE, with deterministic answers and usage. Node 20, no dependencies.
//
//   node testdata/fake-upstream.mjs --port P [--log FILE]   -> prints "listening P"
//
// Answers: "echo: <last user text>" ("tool said: <result>" after a tool
// result); a tool call to the first tool offered when the user text contains
// "use a tool". Usage: prompt = ceil(UTF-8 bytes of all message text / 4),
// completion = ceil(reply bytes / 4) (a tool call: name + arguments JSON).
//
// Behaviour, from the model name or an `x-fake` header (both may combine):
//   fail-<code>  answer HTTP <code> in the API's error shape (429: Retry-After: 1;
//                plain "fail": 500)
//   flaky-<n>    fail with 500 on the first n calls for this model name, then answer
//   hang         never answer        slow-<ms>   wait before answering
//   drip-<ms>    wait between stream events
//   stream-cut   drop the connection in the middle of a stream
//   refuse       a refusal (content_filter / refusal / SAFETY)
//   spaced       OpenAI stream events written with a space after each key's colon
//   nulkey       the answer is "ok", a \u0000, then an AWS key: one OpenAI stream chunk
//   dupdelta     an Anthropic stream adds an event with "delta" twice (the second an AWS key)
//   overuse      report more completion tokens than max_tokens allows
//   tools        call the first tool offered, whatever the text says
//   argsecho     ... with the user's text as its arguments ({"q": TEXT})
//   upper        the echo in capitals: a value written in lower case in the
//                prompt passes the input guardrails and is whole in the answer
//   bigindex     ... its argument pieces under choice and tool_calls index 1e12
//   cache-<r>-<w>[-<h>]  Anthropic usage reports r cache-read tokens and w
//                5-minute + h one-hour cache-write tokens (on top of input_tokens)
// Anthropic requests with "thinking": {"type": "enabled"} get a thinking
// block ("fake thought", signature "fakesig") before the answer.
// Names may carry a prefix, so prices still apply: "gpt-4o-mini-flaky-2".
//
// Test hooks: GET /__stats -> {"total":N,"models":{name:count}}; POST /__reset.
// --log FILE gets one JSON line per request: method, path, model, headers
// (credentials replaced by "[REDACTED]"), auth_present, auth_sha256 (of the
// credential, so tests can check which key was injected) and the body.
import http from 'node:http';
import fs from 'node:fs';
import crypto from 'node:crypto';

const opt = { port: 0, log: null };
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] === '--port') opt.port = Number(process.argv[++i]);
  else if (process.argv[i] === '--log') opt.log = process.argv[++i];
}

const stats = { total: 0, models: {} };
const flaky = {};
let seq = 0;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const bytes = (s) => Buffer.byteLength(s || '', 'utf8');
const tokens = (s) => Math.ceil(bytes(s) / 4);
const now = () => Math.floor(Date.now() / 1000);
const sha256 = (s) => crypto.createHash('sha256').update(s).digest('hex');

// ---- behaviour ----

function behaviour(model, header) {
  const s = `${header || ''} ${model || ''}`.toLowerCase();
  const num = (name) => { const m = s.match(new RegExp(`(?:^|[^a-z])${name}-(\\d+)`)); return m ? Number(m[1]) : null; };
  const has = (name) => new RegExp(`(?:^|[^a-z])${name}(?:$|[^a-z])`).test(s);
  return {
    fail: num('fail') ?? (has('fail') ? 500 : null), flaky: num('flaky'), slow: num('slow'), drip: num('drip') || 0,
    hang: has('hang'), cut: has('stream-cut'), refuse: has('refuse'),
    overuse: has('overuse'), tools: has('tools'), spaced: has('spaced'), nulkey: has('nulkey'), dupdelta: has('dupdelta'), argsecho: has('argsecho'), bigindex: has('bigindex'), upper: has('upper'),
    cache: (() => { const m = s.match(/(?:^|[^a-z])cache-(\d+)-(\d+)(?:-(\d+))?/); return m ? { read: +m[1], w5m: +m[2], w1h: +(m[3] || 0) } : null; })(),
  };
}

// ---- the answer, in neutral form; each API formats it ----

// text of an OpenAI/Anthropic content value: a string or blocks with text
function textOf(c) {
  if (typeof c === 'string') return c;
  if (!Array.isArray(c)) return '';
  return c.map((b) => (typeof b?.text === 'string' ? b.text
    : b?.type === 'tool_result' ? textOf(b.content) : '')).join('');
}

function argsFor(schema) {
  const out = {};
  for (const [k, v] of Object.entries(schema?.properties || {})) {
    const t = v?.type;
    out[k] = t === 'integer' || t === 'number' ? 1 : t === 'boolean' ? true
      : t === 'array' ? [] : t === 'object' ? {} : 'fake';
  }
  return out;
}

// conv: {texts: [all message text], last: {kind:'user'|'tool', text}, tool: {name, schema}|null, max}
function answer(conv, b) {
  const prompt = tokens(conv.texts.join(''));
  if (b.refuse) {
    const text = "I can't help with that.";
    return { kind: 'refusal', text, prompt, completion: tokens(text) };
  }
  const userText = conv.last.kind === 'user' ? conv.last.text : '';
  if (conv.tool && (b.tools || userText.includes('use a tool'))) {
    const args = JSON.stringify(b.argsecho ? { q: userText } : argsFor(conv.tool.schema));
    return { kind: 'tool', name: conv.tool.name, args, prompt, completion: tokens(conv.tool.name + args) };
  }
  let text = conv.last.kind === 'tool' ? `tool said: ${conv.last.text}` : `echo: ${conv.last.text}`;
  if (b.upper) text = text.toUpperCase();
  if (b.nulkey) text = 'ok\u0000 the key is AKIAIOSFODNN7EXAMPLE';
  let truncated = false;
  if (conv.max > 0 && tokens(text) > conv.max) { // stop at max_tokens, on a character boundary
    let cut = '';
    for (const ch of text) { if (bytes(cut + ch) > conv.max * 4) break; cut += ch; }
    text = cut; truncated = true;
  }
  let completion = tokens(text);
  if (b.overuse) completion = (conv.max > 0 ? conv.max : 16) * 2 + 100;
  return { kind: 'text', text, truncated, prompt, completion };
}

function pieces(text, n = 8) { // code-point-safe pieces of about n characters
  const chars = [...text], out = [];
  for (let i = 0; i < chars.length; i += n) out.push(chars.slice(i, i + n).join(''));
  return out;
}

// ---- OpenAI (and Azure) ----

function openaiConv(body) {
  const msgs = Array.isArray(body.messages) ? body.messages : [];
  const texts = msgs.map((m) => textOf(m.content));
  const lastUser = [...msgs].reverse().find((m) => m.role === 'user' || m.role === 'tool');
  const t = body.tools?.[0]?.function;
  return {
    texts,
    last: { kind: lastUser?.role === 'tool' ? 'tool' : 'user', text: textOf(lastUser?.content) },
    tool: t ? { name: t.name, schema: t.parameters } : null,
    max: body.max_tokens || body.max_completion_tokens || 0,
  };
}

function openaiUsage(a) {
  return { prompt_tokens: a.prompt, completion_tokens: a.completion, total_tokens: a.prompt + a.completion,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 } };
}

const openaiFinish = (a) => (a.kind === 'tool' ? 'tool_calls' : a.kind === 'refusal' ? 'content_filter' : a.truncated ? 'length' : 'stop');

function openaiMessage(a) {
  if (a.kind === 'tool') return { role: 'assistant', content: null, refusal: null,
    tool_calls: [{ id: 'call_fake_0', type: 'function', function: { name: a.name, arguments: a.args } }] };
  if (a.kind === 'refusal') return { role: 'assistant', content: null, refusal: a.text };
  return { role: 'assistant', content: a.text, refusal: null, annotations: [] };
}

async function openaiChat(ctx, model, body) {
  if (!Array.isArray(body.messages)) return ctx.error(400, 'messages: expected an array');
  const a = answer(openaiConv(body), ctx.b);
  const id = `chatcmpl-fake${++seq}`, created = now();
  if (!body.stream) {
    return ctx.json(200, { id, object: 'chat.completion', created, model, system_fingerprint: 'fp_fake',
      choices: [{ index: 0, message: openaiMessage(a), logprobs: null, finish_reason: openaiFinish(a) }],
      usage: openaiUsage(a) });
  }
  const withUsage = body.stream_options?.include_usage === true;
  const chunk = (delta, finish = null) => ({ id, object: 'chat.completion.chunk', created, model,
    system_fingerprint: 'fp_fake', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...(withUsage ? { usage: null } : {}) });
  const events = [chunk({ role: 'assistant', content: '', refusal: null })];
  if (a.kind === 'tool') {
    events.push(chunk({ tool_calls: [{ index: 0, id: 'call_fake_0', type: 'function', function: { name: a.name, arguments: '' } }] }));
    for (const p of pieces(a.args, 12)) {
      const e = chunk({ tool_calls: [{ index: ctx.b.bigindex ? 1e12 : 0, function: { arguments: p } }] });
      if (ctx.b.bigindex) e.choices[0].index = 1e12; // nonsense indexes must not upset odock
      events.push(e);
    }
  } else if (a.kind === 'refusal') {
    events.push(chunk({ refusal: a.text }));
  } else {
    for (const p of ctx.b.nulkey ? [a.text] : pieces(a.text)) events.push(chunk({ content: p }));
  }
  events.push(chunk({}, openaiFinish(a)));
  if (withUsage) events.push({ id, object: 'chat.completion.chunk', created, model, system_fingerprint: 'fp_fake', choices: [], usage: openaiUsage(a) });
  const text = (e) => (ctx.b.spaced ? JSON.stringify(e).replace(/":/g, '": ') : JSON.stringify(e));
  await ctx.sse(events.map((e) => `data: ${text(e)}\n\n`).concat(['data: [DONE]\n\n']));
}

function vector(text, dims) { // deterministic, in [-1, 1)
  const out = [];
  for (let blk = 0; out.length < dims; blk++) {
    const h = crypto.createHash('sha256').update(`${text}\n${blk}`).digest();
    for (const byte of h) { if (out.length < dims) out.push((byte - 128) / 128); }
  }
  return out;
}

function openaiEmbeddings(ctx, model, body) {
  const input = typeof body.input === 'string' ? [body.input] : body.input;
  if (!Array.isArray(input) || input.length === 0) return ctx.error(400, "'input' is required");
  const dims = body.dimensions > 0 ? Math.min(body.dimensions, 4096) : 8;
  let prompt = 0;
  const data = input.map((x, index) => {
    const text = typeof x === 'string' ? x : JSON.stringify(x);
    prompt += typeof x === 'string' ? tokens(x) : Array.isArray(x) ? x.length : 1;
    return { object: 'embedding', index, embedding: vector(text, dims) };
  });
  ctx.json(200, { object: 'list', data, model, usage: { prompt_tokens: prompt, total_tokens: prompt } });
}

// ---- Anthropic ----

function anthropicConv(body) {
  const msgs = Array.isArray(body.messages) ? body.messages : [];
  const texts = [textOf(body.system), ...msgs.map((m) => textOf(m.content))];
  const last = [...msgs].reverse().find((m) => m.role === 'user');
  const blocks = Array.isArray(last?.content) ? last.content : [];
  const result = blocks.find((b) => b.type === 'tool_result');
  const t = body.tools?.[0];
  return {
    texts,
    last: result ? { kind: 'tool', text: textOf(result.content) } : { kind: 'user', text: textOf(last?.content) },
    tool: t ? { name: t.name, schema: t.input_schema } : null,
    max: body.max_tokens,
  };
}

const anthropicStop = (a) => (a.kind === 'tool' ? 'tool_use' : a.kind === 'refusal' ? 'refusal' : a.truncated ? 'max_tokens' : 'end_turn');

async function anthropicMessages(ctx, model, body) {
  if (!ctx.req.headers['anthropic-version']) return ctx.error(400, 'anthropic-version: header is required');
  if (!Array.isArray(body.messages)) return ctx.error(400, 'messages: Field required');
  if (!(body.max_tokens > 0)) return ctx.error(400, 'max_tokens: Field required');
  const a = answer(anthropicConv(body), ctx.b);
  const id = `msg_fake${++seq}`;
  const cache = ctx.b.cache;
  const usage = { input_tokens: a.prompt, cache_creation_input_tokens: cache ? cache.w5m + cache.w1h : 0,
    cache_read_input_tokens: cache ? cache.read : 0, output_tokens: a.completion,
    ...(cache ? { cache_creation: { ephemeral_5m_input_tokens: cache.w5m, ephemeral_1h_input_tokens: cache.w1h } } : {}) };
  const thinking = body.thinking?.type === 'enabled';
  const block = a.kind === 'tool' ? { type: 'tool_use', id: 'toolu_fake_0', name: a.name, input: JSON.parse(a.args) }
    : { type: 'text', text: a.text };
  if (!body.stream) {
    const content = [...(thinking ? [{ type: 'thinking', thinking: 'fake thought', signature: 'fakesig' }] : []),
      ...(a.kind === 'refusal' ? [] : [block])];
    return ctx.json(200, { id, type: 'message', role: 'assistant', model, content,
      stop_reason: anthropicStop(a), stop_sequence: null, usage });
  }
  const ev = (type, data) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  const events = [
    ev('message_start', { message: { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null,
      stop_sequence: null, usage: { ...usage, output_tokens: 1 } } }),
    'event: ping\ndata: {"type": "ping"}\n\n',
  ];
  const i0 = thinking ? 1 : 0;
  if (thinking) {
    events.push(ev('content_block_start', { index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } }));
    events.push(ev('content_block_delta', { index: 0, delta: { type: 'thinking_delta', thinking: 'fake thought' } }));
    events.push(ev('content_block_delta', { index: 0, delta: { type: 'signature_delta', signature: 'fakesig' } }));
    events.push(ev('content_block_stop', { index: 0 }));
  }
  if (a.kind === 'tool') {
    events.push(ev('content_block_start', { index: i0, content_block: { ...block, input: {} } }));
    for (const p of ['', ...pieces(a.args, 12)]) events.push(ev('content_block_delta', { index: i0, delta: { type: 'input_json_delta', partial_json: p } }));
    events.push(ev('content_block_stop', { index: i0 }));
  } else if (a.kind === 'text') {
    events.push(ev('content_block_start', { index: i0, content_block: { type: 'text', text: '' } }));
    for (const p of pieces(a.text)) events.push(ev('content_block_delta', { index: i0, delta: { type: 'text_delta', text: p } }));
    if (ctx.b.dupdelta) events.push(`event: content_block_delta\ndata: {"type":"content_block_delta","index":${i0},"delta":{"type":"text_delta","text":" fine"},"delta":{"type":"text_delta","text":" AKIAIOSFODNN7EXAMPLE"}}\n\n`);
    events.push(ev('content_block_stop', { index: i0 }));
  }
  events.push(ev('message_delta', { delta: { stop_reason: anthropicStop(a), stop_sequence: null }, usage: { output_tokens: a.completion } }));
  events.push(ev('message_stop', {}));
  await ctx.sse(events);
}

// ---- Gemini ----

function geminiConv(body) {
  const contents = Array.isArray(body.contents) ? body.contents : [];
  const partsText = (parts) => (parts || []).map((p) => (typeof p.text === 'string' ? p.text : '')).join('');
  const texts = [partsText(body.systemInstruction?.parts), ...contents.map((c) => partsText(c.parts))];
  const last = [...contents].reverse().find((c) => (c.role || 'user') === 'user');
  const fr = (last?.parts || []).find((p) => p.functionResponse);
  const decl = body.tools?.[0]?.functionDeclarations?.[0];
  return {
    texts,
    last: fr ? { kind: 'tool', text: JSON.stringify(fr.functionResponse.response) } : { kind: 'user', text: partsText(last?.parts) },
    tool: decl ? { name: decl.name, schema: decl.parameters } : null,
    max: body.generationConfig?.maxOutputTokens || 0,
  };
}

async function geminiGenerate(ctx, model, body, stream) {
  if (!Array.isArray(body.contents)) return ctx.error(400, '* GenerateContentRequest.contents: contents is not specified');
  const a = answer(geminiConv(body), ctx.b);
  const finishReason = a.kind === 'refusal' ? 'SAFETY' : a.truncated ? 'MAX_TOKENS' : 'STOP';
  const usageMetadata = { promptTokenCount: a.prompt, candidatesTokenCount: a.kind === 'refusal' ? 0 : a.completion,
    totalTokenCount: a.prompt + (a.kind === 'refusal' ? 0 : a.completion) };
  const responseId = `fake${++seq}`;
  const cand = (parts, finish) => ({ content: { parts, role: 'model' }, ...(finish ? { finishReason: finish } : {}), index: 0 });
  const parts = a.kind === 'tool' ? [{ functionCall: { name: a.name, args: JSON.parse(a.args) } }]
    : a.kind === 'refusal' ? [] : [{ text: a.text }];
  if (!stream) {
    return ctx.json(200, { candidates: [cand(parts, finishReason)], usageMetadata, modelVersion: model, responseId });
  }
  // Google ends SSE events with \r\n\r\n
  const ev = (o) => `data: ${JSON.stringify({ ...o, modelVersion: model, responseId })}\r\n\r\n`;
  const events = [];
  if (a.kind === 'text') {
    const ps = pieces(a.text, 16);
    ps.forEach((p, i) => events.push(ev({ candidates: [cand([{ text: p }], i === ps.length - 1 ? finishReason : null)],
      usageMetadata: i === ps.length - 1 ? usageMetadata : { promptTokenCount: a.prompt, totalTokenCount: a.prompt } })));
    if (ps.length === 0) events.push(ev({ candidates: [cand([{ text: '' }], finishReason)], usageMetadata }));
  } else {
    events.push(ev({ candidates: [cand(parts, finishReason)], usageMetadata }));
  }
  await ctx.sse(events);
}

function geminiEmbed(ctx, model, body, batch) {
  const reqs = batch ? body.requests : [body];
  if (!Array.isArray(reqs)) return ctx.error(400, 'requests: expected an array');
  const vecs = reqs.map((r) => ({ values: vector((r.content?.parts || []).map((p) => p.text || '').join(''), r.outputDimensionality || 8) }));
  ctx.json(200, batch ? { embeddings: vecs } : { embedding: vecs[0] });
}

// ---- errors in each API's shape ----

function errorBody(api, status, message) {
  if (api === 'anthropic') {
    const type = { 400: 'invalid_request_error', 401: 'authentication_error', 404: 'not_found_error', 429: 'rate_limit_error', 529: 'overloaded_error' }[status] || 'api_error';
    return { type: 'error', error: { type, message } };
  }
  if (api === 'gemini') {
    const st = { 400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 404: 'NOT_FOUND', 429: 'RESOURCE_EXHAUSTED', 503: 'UNAVAILABLE' }[status] || 'INTERNAL';
    return { error: { code: status, message, status: st } };
  }
  const type = status === 429 ? 'rate_limit_error' : status >= 500 ? 'server_error' : 'invalid_request_error';
  return { error: { message, type, param: null, code: status === 401 ? 'invalid_api_key' : null } };
}

// ---- HTTP ----

function credential(req, url) {
  const h = req.headers;
  if (h.authorization) return h.authorization.replace(/^Bearer\s+/i, '');
  return h['x-api-key'] || h['api-key'] || h['x-goog-api-key'] || url.searchParams.get('key') || null;
}

function logRequest(req, url, model, body, raw) {
  if (!opt.log) return;
  const secret = credential(req, url);
  const headers = {};
  for (const [k, v] of Object.entries(req.headers))
    headers[k] = ['authorization', 'x-api-key', 'api-key', 'x-goog-api-key'].includes(k) ? '[REDACTED]' : v;
  if (url.searchParams.has('key')) url.searchParams.set('key', '[REDACTED]');
  const line = { ts: Date.now(), method: req.method, path: url.pathname + url.search, model, headers,
    auth_present: !!secret, auth_sha256: secret ? sha256(secret) : null, body: body ?? raw };
  fs.appendFileSync(opt.log, JSON.stringify(line) + '\n');
}

function route(method, path) {
  let m;
  const p = path.replace(/^\/v1(?=\/)/, ''); // OpenAI paths with or without /v1
  if (method === 'GET' && path === '/__stats') return { api: 'stats' };
  if (method === 'POST' && path === '/__reset') return { api: 'reset' };
  if (method === 'GET' && p === '/models') return { api: 'models' };
  if (method !== 'POST') return null;
  if (path === '/v1/messages') return { api: 'anthropic', fn: anthropicMessages };
  if (p === '/chat/completions') return { api: 'openai', fn: openaiChat };
  if (p === '/embeddings') return { api: 'openai', fn: openaiEmbeddings };
  if ((m = path.match(/^\/openai\/deployments\/([^/]+)\/(chat\/completions|embeddings)$/)))
    return { api: 'azure', deployment: decodeURIComponent(m[1]), fn: m[2] === 'embeddings' ? openaiEmbeddings : openaiChat };
  if ((m = path.match(/^\/v1(?:beta)?\/models\/([^/:]+):(generateContent|streamGenerateContent|batchEmbedContents|embedContent)$/))) {
    const model = decodeURIComponent(m[1]), what = m[2];
    const fn = what === 'batchEmbedContents' ? (c, mo, b) => geminiEmbed(c, mo, b, true)
      : what === 'embedContent' ? (c, mo, b) => geminiEmbed(c, mo, b, false)
      : (c, mo, b) => geminiGenerate(c, mo, b, what === 'streamGenerateContent');
    return { api: 'gemini', model, fn };
  }
  return null;
}

async function handle(req, res) {
  const url = new URL(req.url, 'http://fake');
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const raw = Buffer.concat(chunks).toString('utf8');
  const r = route(req.method, url.pathname);
  const send = (status, obj, headers = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(obj));
  };
  if (!r) { logRequest(req, url, null, null, raw); return send(404, { error: { message: `no route for ${req.method} ${url.pathname}` } }); }
  if (r.api === 'stats') return send(200, stats);
  if (r.api === 'reset') { stats.total = 0; stats.models = {}; for (const k in flaky) delete flaky[k]; return send(200, { ok: true }); }
  if (r.api === 'models') {
    return send(200, { object: 'list', data: ['gpt-4o', 'gpt-4o-mini', 'text-embedding-3-small'].map((id) => ({ id, object: 'model', created: 1715367049, owned_by: 'fake' })) });
  }
  let body = null;
  try { body = raw ? JSON.parse(raw) : {}; } catch { body = null; }
  const model = r.deployment || r.model || body?.model || '';
  logRequest(req, url, model, body, raw);
  stats.total++;
  stats.models[model] = (stats.models[model] || 0) + 1;

  const api = r.api === 'azure' ? 'openai' : r.api;
  const ctx = {
    req, res, b: behaviour(model, req.headers['x-fake']),
    json: send,
    error: (status, message, headers) => send(status, errorBody(api, status, message), headers),
    sse: async (events) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      // stream-cut: some content goes out, the end never does
      const cutAt = Math.min(Math.max(1, events.length - 3), events.length - 1);
      for (let i = 0; i < events.length; i++) {
        if (ctx.b.cut && i === cutAt) { await sleep(50); res.socket?.destroy(); return; } // flush, then drop
        res.write(events[i]);
        if (ctx.b.drip) await sleep(ctx.b.drip);
      }
      res.end();
    },
  };
  if (body === null) return ctx.error(400, 'request body is not valid JSON');
  if (r.api === 'azure') {
    if (!req.headers['api-key']) return ctx.error(401, 'Access denied due to invalid subscription key or wrong API endpoint.');
    if (!url.searchParams.get('api-version')) return ctx.error(404, 'Resource not found');
  }
  const b = ctx.b;
  if (b.hang) return; // the socket stays open, unanswered
  if (b.slow) await sleep(b.slow);
  if (b.flaky !== null) {
    flaky[model] = (flaky[model] || 0) + 1;
    if (flaky[model] <= b.flaky) return ctx.error(500, `fake upstream: flaky failure ${flaky[model]} of ${b.flaky}`);
  }
  if (b.fail !== null) {
    return ctx.error(b.fail, `fake upstream failure (${b.fail})`, b.fail === 429 ? { 'retry-after': '1' } : {});
  }
  await r.fn(ctx, model, body);
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((e) => {
    if (!res.headersSent) { res.writeHead(500, { 'content-type': 'application/json' }); res.end(JSON.stringify({ error: { message: `fake upstream bug: ${e.message}` } })); }
    else res.destroy();
  });
});
server.listen(opt.port, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
