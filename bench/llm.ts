/**
 * `npm run bench:llm`: what nexus adds to model calls, beside a bare proxy hop to the same vendor
 * fixture (bench/bare-llm-proxy.mjs, the floor for one more hop) and the fixture called directly,
 * in one interleaved run: chat completions and Responses (to an OpenAI fixture) and messages (to
 * an Anthropic fixture), each passed through; non-streaming p50/p99, and for streams the time to
 * the first event. nexus and the bare proxies run as their own processes, as users run them.
 */
import { CALLS, cleanups, interleavedLatencies, nexusProcess, ROUNDS, track, WARM_UP } from './harness.js';
import { quantile } from './measure.js';
import { startVendorFixture } from '../test/helpers/llm.js';
import { startOnOwnPort } from '../test/helpers/processes.js';

const fmt = (n: number) => (Number.isFinite(n) ? n.toFixed(3) : 'n/a');

interface Path {
  label: string;
  /** Under the origin: the fixture's own path, or nexus's route. */
  route: string;
  body: Record<string, unknown>;
  stream: boolean;
}

/** One call: until the whole answer is read, or (streams) until its first event has arrived. */
function caller(origin: string, { route, body, stream }: Path, model: string): () => Promise<unknown> {
  const text = JSON.stringify({ ...body, model, ...(stream && { stream: true }) });
  return async () => {
    const response = await fetch(`${origin}${route}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text });
    if (!response.ok) throw new Error(`${origin}${route}: ${response.status} ${await response.text()}`);
    if (!stream) return response.text();
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    // The rest is read after the clock stops: a stream's first event is what an agent waits for.
    void (async () => {
      while (!(await reader.read()).done);
    })();
  };
}

try {
  const [openai, anthropic] = await Promise.all([startVendorFixture('openai'), startVendorFixture('anthropic')]);
  track(openai);
  track(anthropic);
  const bare = async (url: string) =>
    `http://127.0.0.1:${track(await startOnOwnPort('bench/bare-llm-proxy.mjs', { UPSTREAM: new URL(url).origin })).port}`;
  const [bareOpenai, bareAnthropic] = await Promise.all([bare(openai.url), bare(anthropic.url)]);
  const nexus = await nexusProcess(
    `
[llm.protocols.anthropic]
enabled = true
[llm.providers.gpt]
type = "openai"
api_key = "bench"
base_url = "${openai.url}"
[llm.providers.gpt.models.gpt-fixture]
[llm.providers.gpt.models.replay-openai-responses]
[llm.providers.claude]
type = "anthropic"
api_key = "bench"
base_url = "${anthropic.url}"
[llm.providers.claude.models.claude-fixture]
`,
    undefined,
    'nexus listening',
  );
  const message = [{ role: 'user', content: 'the quick brown fox jumps over the lazy dog' }];
  const paths: { path: Path; fixture: string; bare: string; model: string; nexusModel: string; nexusRoute: string }[] = [
    ['chat completions', '/v1/chat/completions', { messages: message }, false, 'openai'],
    ['chat completions, stream', '/v1/chat/completions', { messages: message }, true, 'openai'],
    ['messages', '/v1/messages', { max_tokens: 64, messages: message }, false, 'anthropic'],
    ['messages, stream', '/v1/messages', { max_tokens: 64, messages: message }, true, 'anthropic'],
    ['responses', '/v1/responses', { input: 'ls' }, false, 'responses'],
    ['responses, stream', '/v1/responses', { input: 'ls' }, true, 'responses'],
  ].map(([label, route, body, stream, vendor]) => {
    const isAnthropic = vendor === 'anthropic';
    const model = isAnthropic ? 'claude-fixture' : vendor === 'responses' ? 'replay-openai-responses' : 'gpt-fixture';
    return {
      path: { label: label as string, route: route as string, body: body as Record<string, unknown>, stream: stream as boolean },
      fixture: new URL(isAnthropic ? anthropic.url : openai.url).origin,
      bare: isAnthropic ? bareAnthropic : bareOpenai,
      model,
      nexusModel: `${isAnthropic ? 'claude' : 'gpt'}/${model}`,
      nexusRoute: `${isAnthropic ? '/llm/anthropic' : '/llm/openai'}${route as string}`,
    };
  });
  const calls = paths.flatMap(({ path, fixture, bare: hop, model, nexusModel, nexusRoute }) => [
    caller(fixture, path, model),
    caller(hop, path, model),
    caller(nexus.url, { ...path, route: nexusRoute }, nexusModel),
  ]);
  const times = await interleavedLatencies(calls);
  console.log(`\nLLM pass-through: ${CALLS} calls per row after ${WARM_UP} warm-up, at concurrency 1, in ${ROUNDS} interleaved rounds;`);
  console.log('streams: time to the first event. "vs bare" is nexus against a bare proxy hop to the same fixture.\n');
  console.log(
    `${'path'.padEnd(26)}${'direct p50'.padStart(11)}${'bare p50'.padStart(10)}${'nexus p50'.padStart(11)}${'nexus p99'.padStart(11)}   vs bare (p50 +ms, ratio)`,
  );
  paths.forEach(({ path }, i) => {
    const [direct = [], hop = [], through = []] = times.slice(i * 3, i * 3 + 3);
    const [d, b, n] = [quantile(direct, 0.5), quantile(hop, 0.5), quantile(through, 0.5)];
    console.log(
      `${path.label.padEnd(26)}${fmt(d).padStart(11)}${fmt(b).padStart(10)}${fmt(n).padStart(11)}${fmt(quantile(through, 0.99)).padStart(11)}   ${n - b >= 0 ? '+' : ''}${fmt(n - b)} ms, ${(n / b).toFixed(2)}x`,
    );
  });
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
}
