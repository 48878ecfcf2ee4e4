// Loads the official @durable-streams/client from tests/conformance/node_modules (where
// `make test` installs it with `npm ci`), whatever the working directory is. Bare ESM
// imports ignore NODE_PATH, so resolve the package from that directory explicitly and
// import the ESM entry its package.json declares.
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { pathToFileURL } from "node:url"

const conformance = new URL("../conformance/package.json", import.meta.url)
const require = createRequire(conformance)
const manifestPath = require.resolve("@durable-streams/client/package.json")
const manifest = JSON.parse(readFileSync(manifestPath, "utf8"))
const entry = manifest.exports["."].import.default

export const client = await import(pathToFileURL(join(dirname(manifestPath), entry)).href)
export const version = manifest.version
