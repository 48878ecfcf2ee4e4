// Usage: node js_reader.mjs STREAM_URL [live]
// Reads the stream from offset -1 with the official client's stream() until it is up to
// date, and prints the JSON messages as one JSON array on stdout.
// live: "false" (catch-up request, the default), "sse" or "long-poll".
import { client } from "./client.mjs"

const [url, liveArg = "false"] = process.argv.slice(2)
if (!url) {
  console.error("usage: js_reader.mjs STREAM_URL [false|sse|long-poll]")
  process.exit(2)
}
const live = liveArg === "false" ? false : liveArg
const response = await client.stream({ url, offset: "-1", live, json: true })
const messages = await response.json() // accumulates until the first up-to-date
// A live session may hold a connection open: exit once stdout (a pipe, written
// asynchronously) has taken the whole output.
process.stdout.write(JSON.stringify(messages) + "\n", () => process.exit(0))
