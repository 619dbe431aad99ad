// @huggingface/inference 4.x pointed at an endpoint URL through the gateway:
// InferenceClient with endpointUrl posts text generation to
// {endpointUrl}/v1/completions.
//
// Usage: node hf_inference.mjs ENDPOINT_URL   (.../v1/ACCOUNT_TAG/GATEWAY/huggingface/gpt2)
import assert from "node:assert/strict";
import { InferenceClient } from "@huggingface/inference";

const url = process.argv[2];
const hf = new InferenceClient("hf_test_token", { endpointUrl: url });
const out = await hf.textGeneration({ inputs: "console.log", parameters: { max_new_tokens: 8 } });
assert.equal(out.generated_text, "Hello from the aigw mock.");
console.log("ok - huggingface InferenceClient({endpointUrl}).textGeneration");

const ep = new InferenceClient("hf_test_token").endpoint(url);
const again = await ep.textGeneration({ inputs: "console.log" });
assert.equal(again.generated_text, "Hello from the aigw mock.");
console.log("ok - huggingface InferenceClient().endpoint(url).textGeneration");
