// When CONFORMANCE_TOKEN is set, every request the suite makes (it uses the global
// fetch, directly and through @durable-streams/client) carries the bearer token, so the
// official suite can run against a server that requires STREAMS_SECRET.
const token = process.env.CONFORMANCE_TOKEN;
if (token) {
  const originalFetch = globalThis.fetch;
  globalThis.fetch = (input, init = {}) => {
    const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
    headers.set("Authorization", `Bearer ${token}`);
    return originalFetch(input, { ...init, headers });
  };
}
