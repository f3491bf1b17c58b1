// One application run for tests/integration/test_real_sdks.py: the real AI SDK, its real
// telemetry and a real OpenTelemetry SDK exporting OTLP/HTTP protobuf, set up as
// docs/sending-ids.md tells users. Only the model is a mock (from the version's own `ai/test`),
// answering with the gateway's provider metadata as AI Gateway does.
//
//   node run.mjs SETUP SCENARIO ID...
//
// SETUP: ai5, ai6, ai7 (the `OpenTelemetry` integration with providerMetadata: true),
// ai7-legacy (`LegacyOpenTelemetry`), ai7-no-metadata (`OpenTelemetry` without it), all with
// the OpenTelemetry JS SDK's own exporter; or ai7-vercel-otel (as ai7, with the SDK that
// @vercel/otel's registerOTel starts). Where spans go and when comes from the OTEL_* variables,
// as for any application. Prints one JSON line: each export's size and whether it succeeded, and
// where in the spans each generation ID was (attribute, or event and attribute), so a test can
// tell an ID the exporter rightly ignored from one that never reached it.
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

import { trace } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, NodeTracerProvider } from "@opentelemetry/sdk-trace-node";

const GENERATION_ID = /gen_[0-9A-Z]{26}/g;
const MODEL_ID = "openai/gpt-5-mini";

// The package of each setup, its mock language model, and how telemetry is set up.
const AI7 = { ai: "ai", mock: "MockLanguageModelV4", spec: "v3", integration: "OpenTelemetry" };
const SETUPS = {
  ai5: { ai: "ai5", mock: "MockLanguageModelV2", spec: "v2" },
  ai6: { ai: "ai6", mock: "MockLanguageModelV3", spec: "v3" },
  ai7: AI7,
  "ai7-legacy": { ...AI7, integration: "LegacyOpenTelemetry" },
  "ai7-no-metadata": { ...AI7, options: {} },
  "ai7-vercel-otel": { ...AI7, sdk: "vercel" },
};

const [setupName, scenario, ...ids] = process.argv.slice(2);
const setup = SETUPS[setupName];
if (setup === undefined || ids.length === 0) {
  throw new Error(`usage: node run.mjs ${Object.keys(SETUPS).join("|")} SCENARIO ID...`);
}

const ai = await import(setup.ai);
const { [setup.mock]: MockLanguageModel, convertArrayToReadableStream } = await import(`${setup.ai}/test`);

const exports = []; // each export: its size and whether it succeeded
const places = {}; // where the IDs were: an attribute's key, or an event's name and key
function note(place, value) {
  for (const id of JSON.stringify(value).match(GENERATION_ID) ?? []) {
    (places[place] ??= new Set()).add(id);
  }
}

// A span processor beside the SDK's own that notes where the IDs are, and lets each call wait
// for its root span to end (streamText's ends a moment after its text), so a flush or the exit
// that follows takes all of the call's spans.
let rootsEnded = 0;
let waiting = [];
const watch = {
  onStart() {},
  onEnd(span) {
    for (const [key, value] of Object.entries(span.attributes)) note(key, value);
    for (const event of span.events) {
      for (const [key, value] of Object.entries(event.attributes ?? {})) note(`${event.name} ${key}`, value);
    }
    if (span.parentSpanContext === undefined) rootsEnded += 1;
    waiting = waiting.filter((check) => !check());
  },
  forceFlush: async () => {},
  shutdown: async () => {},
};
let calls = 0;
function callEnded() {
  const call = ++calls;
  return new Promise((resolve) => {
    const check = () => rootsEnded >= call && (resolve(), true);
    if (!check()) waiting.push(check);
  });
}

// The SDK as an application starts it; the tracer provider it registered.
async function startSdk() {
  if (setup.sdk === "vercel") {
    // @vercel/otel's exporter posts with fetch and reports success whatever the answer (a 413
    // included): watch the requests themselves.
    const send = globalThis.fetch;
    globalThis.fetch = async (url, init) => {
      const response = await send(url, init);
      exports.push({ size: init.body.byteLength, ok: response.ok, status: response.status });
      return response;
    };
    const { registerOTel } = await import("@vercel/otel");
    registerOTel({ serviceName: "chat-app", spanProcessors: ["auto", watch] });
    return trace.getTracerProvider().getDelegate();
  }
  // The exporter wrapped to keep what each export answered: a span processor reports a failed
  // export only to a diag logger that is silent by default.
  const otlp = new OTLPTraceExporter();
  const recorder = {
    export(spans, done) {
      const size = spans.reduce((sum, span) => sum + JSON.stringify(span.attributes).length, 0);
      otlp.export(spans, (result) => {
        exports.push({ size, ok: result.code === 0, error: result.error?.message });
        done(result);
      });
    },
    shutdown: () => otlp.shutdown(),
    forceFlush: () => otlp.forceFlush(),
  };
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ "service.name": "chat-app" }),
    spanProcessors: [watch, new BatchSpanProcessor(recorder)],
  });
  provider.register();
  return provider;
}
const provider = await startSdk();

if (setup.integration !== undefined) {
  const otel = await import("@ai-sdk/otel");
  ai.registerTelemetry(new otel[setup.integration](setup.options ?? { providerMetadata: true }));
}
// AI SDK 5 and 6 record a call's spans only when asked; 7 records every call once an
// integration is registered, and takes the function ID from `telemetry`.
const telemetry =
  setup.integration === undefined
    ? { experimental_telemetry: { isEnabled: true, functionId: "chat" } }
    : { telemetry: { functionId: "chat" } };

// The language model interface of each version: V3 and V4 give finish reasons and token counts
// as objects.
const finish =
  setup.spec === "v2"
    ? { finishReason: "stop", usage: { inputTokens: 12, outputTokens: 4, totalTokens: 16 } }
    : {
        finishReason: { unified: "stop", raw: "stop" },
        usage: {
          inputTokens: { total: 12, noCache: 12, cacheRead: undefined, cacheWrite: undefined },
          outputTokens: { total: 4, text: 4, reasoning: undefined },
        },
      };
const gateway = (id) => ({ gateway: { routing: { finalProvider: "openai" }, generationId: id } });

// A model through AI Gateway that answers one call with generation `id`: in the result of
// doGenerate, and when streaming on the first content part and again on the finish part.
function model(id) {
  return new MockLanguageModel({
    provider: "gateway",
    modelId: MODEL_ID,
    doGenerate: async () => ({
      content: [{ type: "text", text: "Sunny." }],
      warnings: [],
      providerMetadata: gateway(id),
      ...finish,
    }),
    doStream: async () => ({
      stream: convertArrayToReadableStream([
        { type: "stream-start", warnings: [] },
        { type: "text-start", id: "t" },
        { type: "text-delta", id: "t", delta: "Sun", providerMetadata: gateway(id) },
        { type: "text-delta", id: "t", delta: "ny." },
        { type: "text-end", id: "t" },
        { type: "finish", providerMetadata: gateway(id), ...finish },
      ]),
    }),
  });
}

// A model whose call fails as the gateway provider fails: with the version's own gateway
// error, whose message ends in `[id]` (AI SDK 6 and 7).
async function failingModel(id) {
  const path = createRequire(import.meta.resolve(setup.ai)).resolve("@ai-sdk/gateway");
  const { GatewayInternalServerError } = await import(pathToFileURL(path).href);
  const fail = async () => {
    throw new GatewayInternalServerError({ message: "Internal server error", generationId: id });
  };
  return new MockLanguageModel({ provider: "gateway", modelId: MODEL_ID, doGenerate: fail, doStream: fail });
}

async function generate(id, options) {
  const result = await ai.generateText({ model: model(id), ...telemetry, ...options });
  await callEnded();
  return result.text;
}

async function stream(id, options) {
  const text = await ai.streamText({ model: model(id), ...telemetry, ...options }).text;
  await callEnded();
  return text;
}

// Even-numbered IDs by generateText, odd ones by streamText.
const call = (id, index, options) => (index % 2 === 0 ? generate : stream)(id, options);

const SCENARIOS = {
  // One call per ID.
  async calls() {
    for (const [index, id] of ids.entries()) await call(id, index, { prompt: "Weather?" });
  },

  // A chat as useChat sends it: every request carries the earlier turns as UI messages, whose
  // text parts keep the provider metadata (their generation IDs) that convertToModelMessages
  // turns into providerOptions. Each turn's spans are exported before the next turn starts, so
  // an earlier ID in a later export can only come from a prompt.
  async chat() {
    const history = [];
    for (const [index, id] of ids.entries()) {
      history.push({ role: "user", parts: [{ type: "text", text: `Question ${index}?` }] });
      const messages = await ai.convertToModelMessages(history);
      const text = await call(id, index, { messages });
      history.push({
        role: "assistant",
        parts: [
          { type: "step-start" },
          { type: "text", text, state: "done", providerMetadata: gateway(id) },
        ],
      });
      await provider.forceFlush();
    }
  },

  // The first ID by a call that succeeds; the others each by a call that fails with a gateway
  // error naming it (generateText, then streamText).
  async errors() {
    const [ok, ...failed] = ids;
    await generate(ok, { prompt: "Weather?" });
    for (const [index, id] of failed.entries()) {
      const options = { model: await failingModel(id), prompt: "Weather?", maxRetries: 0, ...telemetry };
      if (index % 2 === 0) {
        await ai.generateText(options).catch(() => {});
      } else {
        await ai.streamText({ ...options, onError: () => {} }).consumeStream();
      }
      await callEnded();
    }
  },

  // A call per ID with a 100 KB prompt, which the AI SDK records twice per call.
  async big() {
    const prompt = "how much? ".repeat(10_000);
    for (const [index, id] of ids.entries()) await call(id, index, { prompt });
  },
};

await SCENARIOS[scenario]();
await provider.shutdown();
const found = Object.fromEntries(Object.entries(places).map(([place, ids]) => [place, [...ids].sort()]));
console.log(JSON.stringify({ exports, places: found }));
