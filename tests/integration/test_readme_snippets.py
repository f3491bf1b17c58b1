"""Every TypeScript block of the README and docs/ compiles with tsc (the dashboard check's npm
setup), against small local declarations of the packages it imports.

The declarations follow the shapes of the real APIs closely enough for tsc to catch a misspelt
option, a wrong import or a type error, with no network and no package installed. ``ai`` is
AI SDK 7 (checked against vercel/ai at ai@7.0.77: ``packages/ai/src``), which still accepts the
names AI SDK 5 and 6 use (``stepCountIs``, ``onStepFinish``, ``fullStream``,
``experimental_telemetry``) as deprecated aliases, so one declaration checks the snippets of
every version; ``@ai-sdk/otel`` is its ``packages/otel``; the OpenTelemetry Node SDK and the
``openai`` client are cut down to what the snippets use. A block titled ``title="NAME.ts"`` is
written as that file, so the others can import it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.dashboard.test_schema import NODE_MODULES, TSC
from tests.support.snippets import Snippet, snippets

PLACEHOLDERS = """\
// What the README's snippets leave to the application.
declare const prompt: string;
declare const tools: Record<string, unknown>;
declare const messages: Array<{ role: "system" | "user" | "assistant"; content: string }>;
declare const chunks: string[];
declare const process: { env: Record<string, string | undefined> };
declare function fetch(
  url: string,
  init?: { method?: string; headers?: Record<string, string>; body?: string },
): Promise<unknown>;
declare class AbortSignal {
  readonly aborted: boolean;
}
declare class Request {
  readonly signal: AbortSignal;
  json(): Promise<any>;
}
declare class Response {}
"""

PACKAGES = """\
declare module "ai" {
  type JSONValue = null | string | number | boolean | JSONObject | JSONValue[];
  type JSONObject = { [key: string]: JSONValue | undefined };
  type Context = Record<string, unknown>;
  export type ProviderMetadata = Record<string, JSONObject>;
  export type FinishReason =
    | "stop"
    | "length"
    | "content-filter"
    | "tool-calls"
    | "error"
    | "other";
  export interface LanguageModelUsage {
    readonly inputTokens: number | undefined;
    readonly outputTokens: number | undefined;
    readonly totalTokens: number | undefined;
  }
  export interface StepResult {
    readonly stepNumber: number;
    readonly text: string;
    readonly finishReason: FinishReason;
    readonly usage: LanguageModelUsage;
    readonly providerMetadata: ProviderMetadata | undefined;
  }
  export interface LanguageModelCallEndEvent {
    readonly callId: string;
    readonly provider: string;
    readonly modelId: string;
    readonly finishReason: FinishReason;
    readonly usage: LanguageModelUsage;
    readonly content: ReadonlyArray<unknown>;
    readonly responseId: string;
    readonly providerMetadata?: ProviderMetadata; // from ai 7.0.56
  }
  // The stream parts, less the tool and source ones.
  export type TextStreamPart =
    | {
        type: "text-start" | "text-end" | "reasoning-start" | "reasoning-end";
        id: string;
        providerMetadata?: ProviderMetadata;
      }
    | {
        type: "text-delta" | "reasoning-delta";
        id: string;
        text: string;
        providerMetadata?: ProviderMetadata;
      }
    | { type: "start-step"; warnings: unknown[] }
    | {
        type: "finish-step";
        finishReason: FinishReason;
        usage: LanguageModelUsage;
        providerMetadata: ProviderMetadata | undefined;
      }
    | { type: "start" }
    | { type: "finish"; finishReason: FinishReason; totalUsage: LanguageModelUsage }
    | { type: "abort"; reason?: string }
    | { type: "error"; error: unknown };
  export type StopCondition = (options: { steps: StepResult[] }) => boolean;
  export function isStepCount(count: number): StopCondition;
  /** @deprecated Use `isStepCount` instead. */
  export function stepCountIs(count: number): StopCondition;
  export interface Telemetry {
    onStart?(event: unknown): void;
  }
  export function registerTelemetry(...integrations: Telemetry[]): void;
  interface TelemetryOptions<CONTEXT extends Context> {
    isEnabled?: boolean;
    recordInputs?: boolean;
    recordOutputs?: boolean;
    functionId?: string;
    includeRuntimeContext?: { [KEY in keyof NoInfer<CONTEXT>]?: boolean };
    integrations?: Telemetry | Telemetry[];
  }
  interface CallOptions<CONTEXT extends Context> {
    model: string;
    prompt?: string;
    tools?: Record<string, unknown>;
    stopWhen?: StopCondition | StopCondition[];
    abortSignal?: AbortSignal;
    runtimeContext?: CONTEXT;
    telemetry?: TelemetryOptions<CONTEXT>;
    /** @deprecated Use `telemetry` instead. */
    experimental_telemetry?: TelemetryOptions<CONTEXT>;
    onStepEnd?: (step: StepResult) => void | PromiseLike<void>;
    /** @deprecated Use `onStepEnd` instead. */
    onStepFinish?: (step: StepResult) => void | PromiseLike<void>;
    onLanguageModelCallEnd?: (event: LanguageModelCallEndEvent) => void | PromiseLike<void>;
  }
  export function generateText<CONTEXT extends Context = Context>(
    options: CallOptions<CONTEXT>,
  ): Promise<{
    readonly text: string;
    readonly steps: StepResult[];
    readonly providerMetadata: ProviderMetadata | undefined;
  }>;
  export function streamText<CONTEXT extends Context = Context>(options: CallOptions<CONTEXT>): {
    readonly textStream: AsyncIterable<string>;
    readonly stream: AsyncIterable<TextStreamPart>;
    /** @deprecated Use `stream` instead. */
    readonly fullStream: AsyncIterable<TextStreamPart>;
    readonly steps: PromiseLike<StepResult[]>;
    /** @deprecated Use `toTextStream` and `createTextStreamResponse` instead. */
    toTextStreamResponse(): Response;
  };
  export function embed(options: { model: string; value: string }): Promise<{
    readonly embedding: number[];
    readonly providerMetadata?: ProviderMetadata;
  }>;
  export function embedMany(options: { model: string; values: string[] }): Promise<{
    readonly embeddings: number[][];
    readonly providerMetadata?: ProviderMetadata;
  }>;
}

declare module "@ai-sdk/otel" {
  import type { Telemetry } from "ai";
  export type OpenTelemetrySpanType =
    | "operation"
    | "step"
    | "languageModel"
    | "tool"
    | "embedding"
    | "reranking";
  export class LegacyOpenTelemetry implements Telemetry {
    constructor(options?: { tracer?: unknown });
  }
  export class OpenTelemetry implements Telemetry {
    constructor(options?: {
      tracer?: unknown;
      enrichSpan?: (options: {
        spanType: OpenTelemetrySpanType;
        operationId: string;
        callId: string;
        runtimeContext: Record<string, unknown> | undefined;
      }) => Record<string, string | number | boolean> | undefined;
      usage?: boolean;
      providerMetadata?: boolean;
      embedding?: boolean;
      reranking?: boolean;
      runtimeContext?: boolean;
      headers?: boolean;
      toolChoice?: boolean;
      schema?: boolean;
    });
  }
}

declare module "openai" {
  interface Completion {
    id: string;
    choices: unknown[];
  }
  interface CreateParams {
    model: string;
    messages: Array<{ role: "system" | "user" | "assistant"; content: string }>;
  }
  export default class OpenAI {
    constructor(options?: { apiKey?: string; baseURL?: string });
    chat: {
      completions: {
        create(params: CreateParams & { stream: true }): Promise<AsyncIterable<Completion>>;
        create(params: CreateParams & { stream?: false }): Promise<Completion>;
      };
    };
  }
}

declare module "@opentelemetry/sdk-node" {
  export class NodeSDK {
    constructor(configuration?: { traceExporter?: unknown; serviceName?: string });
    start(): void;
    shutdown(): Promise<void>;
  }
}

declare module "@opentelemetry/exporter-trace-otlp-proto" {
  export class OTLPTraceExporter {
    constructor(config?: { url?: string; headers?: Record<string, string> });
  }
}
"""


def file_name(snippet: Snippet) -> str:
    return snippet.title or f"{snippet.page.stem}_{snippet.line}.ts"


def tsc(blocks: list[Snippet], workdir: Path) -> subprocess.CompletedProcess[str]:
    """Type-check ``blocks`` together, each as its own module."""
    assert TSC.exists(), f"{TSC} is missing: run make test (npm ci --prefix tests/dashboard)"
    workdir.mkdir(parents=True, exist_ok=True)
    os.symlink(NODE_MODULES, workdir / "node_modules")
    (workdir / "placeholders.d.ts").write_text(PLACEHOLDERS)
    (workdir / "packages.d.ts").write_text(PACKAGES)
    files = []
    for block in blocks:
        path = workdir / file_name(block)
        assert not path.exists(), f"{block.where}: two blocks named {path.name}"
        path.write_text(f"// {block.where}\n{block.code}")
        files.append(str(path))
    return subprocess.run(
        [
            str(TSC),
            "--noEmit",
            "--strict",
            "--moduleResolution",
            "bundler",
            "--module",
            "esnext",
            "--target",
            "es2022",
            "--lib",
            "es2022",  # no DOM: its global prompt() would shadow the snippets' prompt
            str(workdir / "placeholders.d.ts"),
            str(workdir / "packages.d.ts"),
            *files,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=workdir,
    )


def test_every_typescript_snippet_compiles(tmp_path: Path) -> None:
    blocks = snippets("ts")
    assert len(blocks) >= 5, "the README's AI SDK and OpenAI snippets"
    result = tsc(blocks, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_misspelt_option_field_or_import_is_caught(tmp_path: Path) -> None:
    """The declarations are strict enough to matter: each planted mistake is reported."""
    mistakes = [  # (right, wrong): each planted in the first block that has ``right``
        ("onStepFinish:", "onStepFinsh:"),
        ("generationId(call.providerMetadata)", "generationId(call.providerMetadta)"),
        ("new OpenTelemetry({ providerMetadata: true })", "new OpenTelemetry({ metadata: true })"),
        ("stream: true", "streaming: true"),
        ("import { embed, embedMany }", "import { embed, embedMany, embedAll }"),
    ]
    blocks = snippets("ts")
    for right, wrong in mistakes:
        index = next(i for i, block in enumerate(blocks) if right in block.code)
        block = blocks[index]
        code = block.code.replace(right, wrong, 1)
        blocks[index] = Snippet(block.page, block.line, block.language, block.title, code)
    output = tsc(blocks, tmp_path).stdout
    for needle in (
        "'onStepFinsh' does not exist",
        "'providerMetadta' does not exist",
        "'metadata' does not exist",
        "'streaming' does not exist",
        "has no exported member 'embedAll'",
    ):
        assert needle in output, f"tsc did not report {needle}:\n{output}"
