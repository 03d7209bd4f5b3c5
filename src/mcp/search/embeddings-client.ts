/**
 * A client of an OpenAI-compatible embeddings endpoint (`POST {url}/embeddings`): OpenAI itself,
 * Azure-style gateways, vLLM, Ollama, llama.cpp, text-embeddings-inference and the like all
 * answer `{ data: [{ index, embedding: number[] }] }`. Vectors come back scaled to unit length,
 * so a dot product is their cosine similarity.
 */
import { z } from 'zod';
import type { EmbeddingsConfig } from '../../config/schema.js';
import { createPool, destroyPool, send, type Pool } from '../../net/http-client.js';
import { readText } from '../../net/body-limits.js';
import { redactUrls, type Redactor } from '../../redact.js';

/** Vectors longer than this are refused (the largest common models have 4,096 dimensions). */
const MAX_DIMENSIONS = 8_192;
/** What one number may take as JSON, at most ("-0.012345678901234567,"), for bounding answers. */
const MAX_NUMBER_BYTES = 24;

const answerSchema = z.object({
  data: z.array(z.object({ index: z.number().int().nonnegative(), embedding: z.array(z.number()) })),
});

export class EmbeddingsError extends Error {
  override readonly name = 'EmbeddingsError';
  /** The endpoint's HTTP status, when it answered with an error. */
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export class EmbeddingsClient {
  private readonly pool: Pool = createPool();
  private readonly endpoint: URL;

  constructor(
    private readonly config: EmbeddingsConfig,
    private readonly redactor: Redactor,
  ) {
    // Into the path, before any query (`...?api-version=...`).
    this.endpoint = new URL(config.url);
    this.endpoint.pathname = `${this.endpoint.pathname.replace(/\/+$/, '')}/embeddings`;
  }

  /** One unit-length vector per text, in order; throws EmbeddingsError saying what went wrong. */
  async embed(texts: readonly string[], signal?: AbortSignal): Promise<Float32Array[]> {
    const { model, dimensions, api_key: apiKey } = this.config;
    const body = JSON.stringify({ model, input: texts, encoding_format: 'float', ...(dimensions !== undefined && { dimensions }) });
    let text: string;
    let status: number;
    try {
      const response = await send(this.pool, this.endpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...(apiKey !== undefined && { authorization: `Bearer ${apiKey}` }),
        },
        body,
        signal,
      });
      status = response.statusCode ?? 0;
      text = await readText(response, 65_536 + texts.length * MAX_DIMENSIONS * MAX_NUMBER_BYTES);
    } catch (error) {
      throw new EmbeddingsError(this.redactor.text(redactUrls((error as Error).message)));
    }
    if (status !== 200) throw new EmbeddingsError(`the endpoint answered ${status}: ${this.redactor.text(text.slice(0, 200))}`, status);
    let answer: z.infer<typeof answerSchema>;
    try {
      answer = answerSchema.parse(JSON.parse(text));
    } catch {
      throw new EmbeddingsError('the endpoint answered something other than { data: [{ index, embedding }] }');
    }
    const vectors: (Float32Array | undefined)[] = new Array(texts.length);
    for (const { index, embedding } of answer.data) if (index < texts.length) vectors[index] = unitVector(embedding);
    const dimension = vectors[0]?.length ?? 0;
    if (dimension === 0 || dimension > MAX_DIMENSIONS || vectors.some((vector) => vector?.length !== dimension)) {
      throw new EmbeddingsError(
        `the endpoint answered ${answer.data.length} vectors of unequal, zero or too large size for ${texts.length} texts`,
      );
    }
    return vectors as Float32Array[];
  }

  close(): void {
    destroyPool(this.pool);
  }
}

/** `values` scaled to length 1; refuses what cannot be (infinite or all-zero vectors). */
function unitVector(values: readonly number[]): Float32Array {
  let norm = 0;
  for (const value of values) norm += value * value;
  norm = Math.sqrt(norm);
  if (!Number.isFinite(norm) || norm === 0)
    throw new EmbeddingsError('the endpoint answered a vector that cannot be scaled (zero or not finite)');
  return Float32Array.from(values, (value) => value / norm);
}
