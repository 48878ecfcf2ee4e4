import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["conformance.test.mjs"],
    setupFiles: ["auth-setup.mjs"],
    testTimeout: 20000,
    hookTimeout: 20000,
    // One file, run serially in one fork: the suite shares one server.
    fileParallelism: false,
  },
});
