// testdata/npm-llm/client.mjs — drives odock serve with the real SDKs.
//   node client.mjs CMD BASE_URL KEY MODEL [TEXT] [options as JSON]
// CMD: chat | stream | tools | embed | models | anthropic | anthropic-stream
// Prints one JSON line: {"ok":true,...} or {"ok":false,"status":N,"code":..,"type":..,"message":..}.
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';

const [cmd, base, key, model, text = 'hello there', optsJson = '{}'] = process.argv.slice(2);
const opts = JSON.parse(optsJson);
const out = (o) => { process.stdout.write(JSON.stringify(o) + '\n'); };

async function main() {
  if (cmd.startsWith('anthropic')) {
    const a = new Anthropic({ baseURL: base, apiKey: key, maxRetries: 0, timeout: 20000 });
    const req = { model, max_tokens: opts.max_tokens ?? 256, messages: [{ role: 'user', content: text }],
      ...(opts.system ? { system: opts.system } : {}), ...(opts.tools ? { tools: opts.tools } : {}) };
    if (cmd === 'anthropic') {
      const { data, response } = await a.messages.create(req).withResponse();
      return out({ ok: true, id: data.id, type: data.type, role: data.role, stop_reason: data.stop_reason,
        text: data.content.filter((b) => b.type === 'text').map((b) => b.text).join(''),
        tool_use: data.content.filter((b) => b.type === 'tool_use').map((b) => ({ name: b.name, input: b.input })),
        usage: data.usage, request_id: response.headers.get('x-odock-request-id'),
        provider: response.headers.get('x-odock-provider') });
    }
    const stream = a.messages.stream(req);
    let events = 0, txt = '';
    for await (const ev of stream) {
      events++;
      if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') txt += ev.delta.text;
    }
    const final = await stream.finalMessage();
    return out({ ok: true, events, text: txt, stop_reason: final.stop_reason, usage: final.usage });
  }

  const c = new OpenAI({ baseURL: base, apiKey: key, maxRetries: 0, timeout: 20000 });
  if (cmd === 'chat') {
    const { data, response } = await c.chat.completions.create({
      model, messages: [{ role: 'user', content: text }], ...opts }).withResponse();
    return out({ ok: true, text: data.choices[0].message.content, finish: data.choices[0].finish_reason,
      usage: data.usage, model: data.model, request_id: response.headers.get('x-odock-request-id'),
      provider: response.headers.get('x-odock-provider'), attempts: response.headers.get('x-odock-attempts') });
  }
  if (cmd === 'stream') {
    const { data: stream, response } = await c.chat.completions.create({
      model, messages: [{ role: 'user', content: text }], stream: true, ...opts }).withResponse();
    let chunks = 0, txt = '', usage = null, finish = null;
    for await (const ch of stream) {
      chunks++;
      if (ch.usage) usage = ch.usage;
      const d = ch.choices?.[0]?.delta;
      if (d?.content) txt += d.content;
      if (ch.choices?.[0]?.finish_reason) finish = ch.choices[0].finish_reason;
    }
    return out({ ok: true, chunks, text: txt, usage, finish, request_id: response.headers.get('x-odock-request-id'),
      provider: response.headers.get('x-odock-provider') });
  }
  if (cmd === 'tools') {
    const tools = [{ type: 'function', function: { name: 'get_weather', description: 'weather',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];
    const r = await c.chat.completions.create({ model, messages: [{ role: 'user', content: text }], tools, ...opts });
    const tc = r.choices[0].message.tool_calls || [];
    return out({ ok: true, finish: r.choices[0].finish_reason,
      tool_calls: tc.map((t) => ({ name: t.function.name, args: JSON.parse(t.function.arguments) })) });
  }
  if (cmd === 'embed') {
    const r = await c.embeddings.create({ model, input: [text, text + ' again'], ...opts });
    return out({ ok: true, n: r.data.length, dims: r.data[0].embedding.length, usage: r.usage });
  }
  if (cmd === 'models') {
    const ids = [];
    for await (const m of c.models.list()) ids.push(m.id);
    return out({ ok: true, ids });
  }
  throw new Error(`unknown command ${cmd}`);
}

main().catch((e) => {
  out({ ok: false, status: e.status ?? null, code: e.code ?? e.error?.error?.code ?? null,
    type: e.type ?? e.error?.type ?? e.error?.error?.type ?? null, message: String(e.message || e) });
  process.exitCode = 0;
});
