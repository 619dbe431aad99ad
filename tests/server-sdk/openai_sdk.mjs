// The official openai npm package against `aigw serve`, with the seed's
// baseURL form: plain, streaming, and 32 concurrent streams.
//
// Usage: node openai_sdk.mjs BASE_URL   (.../v1/ACCOUNT_TAG/GATEWAY/openai)
import assert from "node:assert/strict";
import OpenAI from "openai";

const REPLY = "Hello from the aigw mock.";
const STREAMED = [0, 1, 2, 3, 4].map((i) => `tok${i} `).join("");
const messages = [{ role: "user", content: "What is Cloudflare?" }];

const openai = new OpenAI({ apiKey: "my api key", baseURL: process.argv[2], maxRetries: 0 });

const done = await openai.chat.completions.create({ model: "gpt-3.5-turbo", messages });
assert.equal(done.choices[0].message.content, REPLY);
console.log("ok - node openai: plain chat completion");

async function stream() {
  let text = "";
  const chunks = await openai.chat.completions.create({ model: "gpt-3.5-turbo", messages, stream: true });
  for await (const chunk of chunks) text += chunk.choices[0]?.delta?.content ?? "";
  return text;
}
assert.equal(await stream(), STREAMED);
console.log("ok - node openai: streaming chat completion");

const texts = await Promise.all(Array.from({ length: 32 }, stream));
assert.deepEqual(texts, Array(32).fill(STREAMED));
console.log("ok - node openai: 32 concurrent streams, each with the right text");
