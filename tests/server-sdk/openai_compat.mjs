// The official openai npm package against `aigw serve`'s unified API: one
// base URL (/compat), a model of each provider dialect, plain and streaming.
//
// Usage: node openai_compat.mjs SERVER   (http://127.0.0.1:PORT)
import assert from "node:assert/strict";
import OpenAI from "openai";

const REPLY = "Hello from the aigw mock.";
const STREAMED = [0, 1, 2, 3, 4].map((i) => `tok${i} `).join("");
const messages = [{ role: "user", content: "Say hello." }];
const openai = new OpenAI({ apiKey: "sk-node", baseURL: `${process.argv[2]}/compat`, maxRetries: 0 });

for (const model of ["anthropic/claude-3-5-haiku", "google-ai-studio/gemini-2.0-flash", "openai/gpt-4o-mini"]) {
  const done = await openai.chat.completions.create({ model, messages });
  assert.equal(done.choices[0].message.content, REPLY);
  assert.equal(done.choices[0].finish_reason, "stop");

  let text = "";
  let usage = null;
  const chunks = await openai.chat.completions.create({
    model, messages, stream: true, stream_options: { include_usage: true },
  });
  for await (const chunk of chunks) {
    text += chunk.choices[0]?.delta?.content ?? "";
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text, STREAMED);
  assert.ok(usage && usage.completion_tokens > 0, JSON.stringify(usage));
  console.log(`ok - node openai /compat ${model}: plain and streaming`);
}

await assert.rejects(
  openai.chat.completions.create({ model: "nosuch/model", messages }),
  (e) => e instanceof OpenAI.BadRequestError && e.status === 400,
);
console.log("ok - node openai /compat: an unknown provider is a 400 BadRequestError");
