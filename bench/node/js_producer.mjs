// Throughput of the official client's IdempotentProducer: N State Protocol upserts,
// appended then flushed, against BASE_URL + PATH. Prints {"count", "seconds"} as JSON.
// Usage: node js_producer.mjs BASE_URL PATH COUNT [SECRET]
import { DurableStream, IdempotentProducer } from "@durable-streams/client";

const [baseUrl, path, countArg, secret] = process.argv.slice(2);
const count = Number(countArg);
const headers = secret ? { Authorization: `Bearer ${secret}` } : {};
const stream = await DurableStream.create({
  url: `${baseUrl}${path}`,
  contentType: "application/json",
  headers,
});
const producer = new IdempotentProducer(stream, `js-bench-${Date.now()}`, {
  autoClaim: true,
  headers,
});
const started = performance.now();
for (let i = 0; i < count; i++) {
  const id = `e${i % 1000}`;
  producer.append(
    JSON.stringify({
      type: "execution",
      key: id,
      value: { id, status: "running", attempt: i },
      headers: { operation: "upsert", timestamp: new Date().toISOString() },
    }),
  );
}
await producer.flush();
const seconds = (performance.now() - started) / 1000;
await producer.detach();
console.log(JSON.stringify({ count, seconds }));
