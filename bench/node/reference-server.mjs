// The Node reference Durable Streams server (@durable-streams/server, pinned in
// package.json), file-backed, for side-by-side benchmarks.
//
//   node reference-server.mjs --port 0 --data-dir DIR [--long-poll-timeout-ms 500] [--memory]
//
// Prints "reference server: listening on http://127.0.0.1:PORT (...)" once it answers,
// and stops cleanly on SIGTERM / SIGINT. Loopback only.
import { readFileSync } from "node:fs";
import { DurableStreamTestServer } from "@durable-streams/server";

function packageVersion(name) {
  const file = new URL(`./node_modules/${name}/package.json`, import.meta.url);
  return JSON.parse(readFileSync(file, "utf8")).version;
}

function parseArgs(argv) {
  const opts = { port: 0, dataDir: null, longPollTimeout: 500, memory: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--port") opts.port = Number(argv[++i]);
    else if (arg === "--data-dir") opts.dataDir = argv[++i];
    else if (arg === "--long-poll-timeout-ms") opts.longPollTimeout = Number(argv[++i]);
    else if (arg === "--memory") opts.memory = true;
    else if (arg === "--help" || arg === "-h") {
      console.log("usage: node reference-server.mjs --port PORT --data-dir DIR " +
        "[--long-poll-timeout-ms MS] [--memory]");
      process.exit(0);
    } else {
      console.error(`unknown argument: ${arg}`);
      process.exit(2);
    }
  }
  if (!opts.memory && !opts.dataDir) {
    console.error("--data-dir is required (or --memory)");
    process.exit(2);
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));

// Fail loudly if the LMDB native binding does not load: the file-backed store needs it.
let lmdbInfo = "lmdb not used";
if (!opts.memory) {
  const lmdb = await import("lmdb");
  const version = lmdb.version ?? {};
  lmdbInfo = `lmdb ${packageVersion("lmdb")} (${version.versionString ?? "native ?"})`;
}

const server = new DurableStreamTestServer({
  host: "127.0.0.1",
  port: opts.port,
  longPollTimeout: opts.longPollTimeout,
  ...(opts.memory ? {} : { dataDir: opts.dataDir }),
});
const url = await server.start();
const store = opts.memory ? "memory store" : `file store ${opts.dataDir}`;
console.log(
  `reference server: listening on ${url} (@durable-streams/server ${packageVersion("@durable-streams/server")}, ${store}, ` +
    `${lmdbInfo}, node ${process.version})`,
);

let stopping = false;
async function shutdown() {
  if (stopping) return;
  stopping = true;
  const timer = setTimeout(() => process.exit(1), 5000);
  timer.unref();
  try {
    await server.stop();
  } finally {
    process.exit(0);
  }
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
