// Usage: node js_producer.mjs STREAM_URL PRODUCER_ID EVENTS_JSON_FILE [EPOCH]
// Writes every event of the file (a JSON array of State Protocol change events) with the
// official IdempotentProducer (autoClaim on, starting at EPOCH, default 0), flushes,
// detaches (the stream stays open) and exits 0.
// Prints {"version", "epoch", "nextSeq", "appended"} as JSON on stdout.
import { readFileSync } from "node:fs"
import { client, version } from "./client.mjs"

const [url, producerId, eventsFile, epoch = "0"] = process.argv.slice(2)
if (!url || !producerId || !eventsFile) {
  console.error("usage: js_producer.mjs STREAM_URL PRODUCER_ID EVENTS_JSON_FILE [EPOCH]")
  process.exit(2)
}
const events = JSON.parse(readFileSync(eventsFile, "utf8"))
const errors = []
const stream = await client.DurableStream.create({ url, contentType: "application/json" })
const producer = new client.IdempotentProducer(stream, producerId, {
  epoch: Number(epoch),
  autoClaim: true,
  lingerMs: 2,
  onError: (error) => errors.push(error),
})
for (const event of events) {
  producer.append(JSON.stringify(event))
}
await producer.flush()
await producer.detach()
if (errors.length > 0) {
  console.error(`IdempotentProducer reported ${errors.length} error(s):`, errors[0])
  process.exit(1)
}
const summary = {
  version,
  epoch: producer.epoch,
  nextSeq: producer.nextSeq,
  appended: events.length,
}
process.stdout.write(JSON.stringify(summary) + "\n")
