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

/** An answer larger than this is refused: 2,048 inputs of 3,072 floats as JSON is about 130 MiB. */
const MAX_ANSWER_BYTES = 256 * 2 ** 20;

const answerSchema = z.object({
  data: z.array(z.object({ index: z.number().int().nonnegative(), embedding: z.array(z.number()) })),
});

export class EmbeddingsError extends Error {
  override readonly name = 'EmbeddingsError';
}

export class EmbeddingsClient {
  private readonly pool: Pool = createPool();
  private readonly endpoint: URL;

  constructor(
    private readonly config: EmbeddingsConfig,
    private readonly redactor: Redactor,
  ) {
    this.endpoint = new URL(`${config.url.replace(/\/+$/, '')}/embeddings`);
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
      text = await readText(response, MAX_ANSWER_BYTES);
    } catch (error) {
      throw new EmbeddingsError(this.redactor.text(redactUrls((error as Error).message)));
    }
    if (status !== 200) throw new EmbeddingsError(`the endpoint answered ${status}: ${this.redactor.text(text.slice(0, 200))}`);
    let answer: z.infer<typeof answerSchema>;
    try {
      answer = answerSchema.parse(JSON.parse(text));
    } catch {
      throw new EmbeddingsError('the endpoint answered something other than { data: [{ index, embedding }] }');
    }
    const vectors: (Float32Array | undefined)[] = new Array(texts.length);
    for (const { index, embedding } of answer.data) if (index < texts.length) vectors[index] = unitVector(embedding);
    const dimension = vectors[0]?.length;
    if (vectors.some((vector) => vector === undefined || vector.length !== dimension || dimension === 0)) {
      throw new EmbeddingsError(`the endpoint answered ${answer.data.length} vectors of unequal or zero size for ${texts.length} texts`);
    }
    return vectors as Float32Array[];
  }

  close(): void {
    destroyPool(this.pool);
  }
}

function unitVector(values: readonly number[]): Float32Array {
  const vector = Float32Array.from(values);
  let norm = 0;
  for (const value of vector) norm += value * value;
  norm = Math.sqrt(norm);
  if (norm > 0) for (let i = 0; i < vector.length; i++) vector[i] = (vector[i] as number) / norm;
  return vector;
}
