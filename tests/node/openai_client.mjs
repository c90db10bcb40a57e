// openai_client.mjs: the official `openai` npm client against `ken serve`:
// list models, a chat completion, a streamed one (with and without the `ken`
// extension, whose citations must come back), embeddings (float and the
// client's default base64), and an error surfacing as the client's APIError.
// Env: KEN_URL (http://127.0.0.1:PORT), KEN_KEY, KEN_CHAT_MODEL, KEN_EMBED_MODEL.
import OpenAI from 'openai';
import assert from 'node:assert/strict';

const client = new OpenAI({ baseURL: `${process.env.KEN_URL}/v1`, apiKey: process.env.KEN_KEY,
                            maxRetries: 0, timeout: 60000 });
const chatModel = process.env.KEN_CHAT_MODEL, embedModel = process.env.KEN_EMBED_MODEL;

const models = [];
for await (const m of client.models.list()) models.push(m.id);
assert.ok(models.includes(chatModel), `models: ${models}`);
assert.ok(models.includes(embedModel), `models: ${models}`);

const msgs = [{ role: 'user', content: 'How do honeybees communicate?' }];
const c = await client.chat.completions.create({ model: chatModel, messages: msgs, max_tokens: 16 });
assert.equal(c.object, 'chat.completion');
assert.equal(c.choices[0].message.role, 'assistant');
assert.equal(typeof c.choices[0].message.content, 'string');
assert.ok(c.usage.completion_tokens >= 1 && c.usage.completion_tokens <= 16, JSON.stringify(c.usage));

const stream = await client.chat.completions.create({ model: chatModel, messages: msgs,
                                                      max_tokens: 16, stream: true });
let chunks = 0, text = '', finish = null;
for await (const ch of stream) {
  assert.equal(ch.object, 'chat.completion.chunk');
  chunks++;
  text += ch.choices[0]?.delta?.content ?? '';
  finish = ch.choices[0]?.finish_reason ?? finish;
}
assert.ok(chunks >= 2, `chunks: ${chunks}`);
assert.equal(finish, 'stop');

// The ken extension: answer from the knowledge base, citations attached.
const k = await client.chat.completions.create({ model: chatModel, messages: msgs, max_tokens: 16,
                                                 ken: { k: 4 } });
assert.ok(k.ken && k.ken.citations.length >= 1, JSON.stringify(k.ken));
assert.ok(k.ken.citations[0].uri.endsWith('bees.md'), k.ken.citations[0].uri);
const ks = await client.chat.completions.create({ model: chatModel, messages: msgs, max_tokens: 8,
                                                  stream: true, ken: {} });
let cites = null;
for await (const ch of ks) if (ch.ken) cites = ch.ken.citations;
assert.ok(cites && cites.length >= 1 && cites[0].sentence.includes('waggle'), JSON.stringify(cites));

const e = await client.embeddings.create({ model: embedModel, input: ['honeybees', 'river delta'] });
assert.equal(e.data.length, 2);
const v = e.data[0].embedding;
assert.ok(Array.isArray(v) && v.length > 0, 'embedding');
const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
assert.ok(Math.abs(norm - 1) < 1e-3, `norm ${norm}`);
const ef = await client.embeddings.create({ model: embedModel, input: 'honeybees',
                                            encoding_format: 'float' });
assert.equal(ef.data[0].embedding.length, v.length);
for (let i = 0; i < v.length; i++) assert.ok(Math.abs(ef.data[0].embedding[i] - v[i]) < 1e-5);

await assert.rejects(client.chat.completions.create({ model: chatModel, messages: [] }),
                     (err) => err instanceof OpenAI.APIError && err.status === 400);
console.log(`openai client: ok (${models.length} models, ${chunks} chunks, dim ${v.length})`);
