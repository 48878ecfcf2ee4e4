// The Node reference Durable Streams server (@durable-streams/server, pinned in
// tests/conformance/package.json, installed there by `make test`), in memory, on a loopback
// port: a streams server we did not write, for the external-streams tests.
//
//   node reference_server.mjs            prints "listening on http://127.0.0.1:PORT"
//
// Stops on SIGTERM / SIGINT.
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { pathToFileURL } from "node:url"

const conformance = new URL("../conformance/package.json", import.meta.url)
const require = createRequire(conformance)
const manifestPath = require.resolve("@durable-streams/server/package.json")
const manifest = JSON.parse(readFileSync(manifestPath, "utf8"))
const exported = manifest.exports["."]
const entry = typeof exported === "string" ? exported : (exported.import.default ?? exported.import)
const { DurableStreamTestServer } = await import(pathToFileURL(join(dirname(manifestPath), entry)).href)

const server = new DurableStreamTestServer({ host: "127.0.0.1", port: 0, longPollTimeout: 500 })
const url = await server.start()
console.log(`listening on ${url} (@durable-streams/server ${manifest.version})`)
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, async () => {
    await server.stop()
    process.exit(0)
  })
}
