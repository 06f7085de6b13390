import { z } from 'zod';

/**
 * Request schemas for the OpenAI-compatible endpoints. Known fields are
 * validated strictly; unknown fields are kept (backends such as vLLM accept
 * extensions like `top_k`) and passed to the worker unchanged.
 */

const nullableOptional = <T extends z.ZodType>(t: T) => t.nullable().optional();

const StreamOptions = z.looseObject({
  include_usage: z.boolean().optional(),
  include_obfuscation: z.boolean().optional(),
});

const Stop = nullableOptional(z.union([z.string(), z.array(z.string()).min(1).max(4)]));

const ContentPart = z.looseObject({ type: z.string().min(1) });

const ToolCall = z.looseObject({
  id: z.string(),
  type: z.literal('function'),
  function: z.looseObject({ name: z.string(), arguments: z.string() }),
});

const Message = z.looseObject({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
  content: z.union([z.string(), z.array(ContentPart), z.null()]).optional(),
  name: z.string().optional(),
  tool_calls: z.array(ToolCall).optional(),
  tool_call_id: z.string().optional(),
});

const FunctionName = z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'function names are 1-64 characters of a-z, A-Z, 0-9, _ or -');

const Tool = z.looseObject({
  type: z.literal('function'),
  function: z.looseObject({
    name: FunctionName,
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
    strict: z.boolean().nullable().optional(),
  }),
});

const ToolChoice = z.union([
  z.enum(['none', 'auto', 'required']),
  z.looseObject({ type: z.literal('function'), function: z.looseObject({ name: FunctionName }) }),
]);

const ResponseFormat = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('text') }),
  z.looseObject({ type: z.literal('json_object') }),
  z.looseObject({
    type: z.literal('json_schema'),
    json_schema: z.looseObject({
      name: z.string().min(1).max(64),
      schema: z.record(z.string(), z.unknown()).optional(),
      strict: z.boolean().nullable().optional(),
    }),
  }),
]);

const Sampling = {
  model: z.string().min(1).max(256),
  stream: nullableOptional(z.boolean()),
  stream_options: nullableOptional(StreamOptions),
  stop: Stop,
  max_tokens: nullableOptional(z.number().int().positive()),
  temperature: nullableOptional(z.number().min(0).max(2)),
  top_p: nullableOptional(z.number().min(0).max(1)),
  seed: nullableOptional(z.number().int()),
  n: nullableOptional(z.number().int().min(1).max(128)),
  presence_penalty: nullableOptional(z.number().min(-2).max(2)),
  frequency_penalty: nullableOptional(z.number().min(-2).max(2)),
  logit_bias: nullableOptional(z.record(z.string(), z.number().min(-100).max(100))),
  user: z.string().max(512).optional(),
};

export const ChatCompletionRequest = z
  .looseObject({
    ...Sampling,
    messages: z.array(Message).min(1),
    max_completion_tokens: nullableOptional(z.number().int().positive()),
    tools: z.array(Tool).max(128).optional(),
    tool_choice: ToolChoice.optional(),
    parallel_tool_calls: z.boolean().optional(),
    response_format: ResponseFormat.optional(),
    logprobs: nullableOptional(z.boolean()),
    top_logprobs: nullableOptional(z.number().int().min(0).max(20)),
  })
  .superRefine((r, ctx) => {
    if (r.stream_options && r.stream !== true) {
      ctx.addIssue({ code: 'custom', path: ['stream_options'], message: 'stream_options is only allowed when stream is true' });
    }
    if (r.tool_choice !== undefined && r.tool_choice !== 'none' && !r.tools?.length) {
      ctx.addIssue({ code: 'custom', path: ['tool_choice'], message: 'tool_choice requires tools' });
    }
    if (typeof r.tool_choice === 'object' && !r.tools?.some((t) => t.function.name === (r.tool_choice as { function: { name: string } }).function.name)) {
      ctx.addIssue({ code: 'custom', path: ['tool_choice'], message: 'tool_choice names a function that is not in tools' });
    }
    if (r.top_logprobs != null && r.logprobs !== true) {
      ctx.addIssue({ code: 'custom', path: ['top_logprobs'], message: 'top_logprobs requires logprobs to be true' });
    }
  });
export type ChatCompletionRequest = z.infer<typeof ChatCompletionRequest>;

const Prompt = z.union([
  z.string(),
  z.array(z.string()).min(1),
  z.array(z.number().int()).min(1),
  z.array(z.array(z.number().int()).min(1)).min(1),
]);

export const CompletionRequest = z
  .looseObject({
    ...Sampling,
    prompt: Prompt,
    echo: nullableOptional(z.boolean()),
    suffix: nullableOptional(z.string()),
    best_of: nullableOptional(z.number().int().min(1).max(20)),
    logprobs: nullableOptional(z.number().int().min(0).max(5)),
  })
  .superRefine((r, ctx) => {
    if (r.stream_options && r.stream !== true) {
      ctx.addIssue({ code: 'custom', path: ['stream_options'], message: 'stream_options is only allowed when stream is true' });
    }
  });
export type CompletionRequest = z.infer<typeof CompletionRequest>;

export const EmbeddingRequest = z.looseObject({
  model: z.string().min(1).max(256),
  input: Prompt,
  encoding_format: z.enum(['float', 'base64']).optional(),
  dimensions: z.number().int().positive().max(65536).optional(),
  user: z.string().max(512).optional(),
});
export type EmbeddingRequest = z.infer<typeof EmbeddingRequest>;

/** The first validation problem as an OpenAI-style parameter path (`messages[0].role`). */
export function issueParam(path: ReadonlyArray<PropertyKey>): string | null {
  if (path.length === 0) return null;
  return path.reduce<string>(
    (acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)),
    '',
  );
}
