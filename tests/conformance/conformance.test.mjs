// Runs the official suite against the server named by CONFORMANCE_BASE_URL.
// (`npx @durable-streams/server-conformance-tests --run` finds no tests when installed
// from the registry, upstream issue #284, so we call runConformanceTests ourselves.)
import { runConformanceTests } from "@durable-streams/server-conformance-tests";

const baseUrl = process.env.CONFORMANCE_BASE_URL;
if (!baseUrl) throw new Error("set CONFORMANCE_BASE_URL to the server under test");

runConformanceTests({
  baseUrl,
  longPollTimeoutMs: Number(process.env.CONFORMANCE_LONG_POLL_MS ?? "500"),
});
