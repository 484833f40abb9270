import * as path from "node:path"
import type { ViteUserConfig } from "vitest/config"

const root = path.join(__dirname)
const alias = (pkg: string, dir: string) => ({
  [`${pkg}/testing`]: path.join(root, dir, "src", "testing.ts"),
  [pkg]: path.join(root, dir, "src", "index.ts")
})

/**
 * Shared vitest settings: workspace packages resolve to their TypeScript sources, so tests run
 * without a build.
 */
const config: ViteUserConfig = {
  esbuild: { target: "es2022" },
  test: {
    fakeTimers: { toFake: undefined },
    sequence: { concurrent: false },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    include: ["test/**/*.test.ts"],
    setupFiles: [
      // chai's deep equality tells Options and Eithers apart (it took Option.some(x) for Option.none())
      path.join(root, "test-support", "src", "setupEquality.ts"),
      // names a test that holds the worker's event loop long enough to break vitest's worker RPC
      path.join(root, "test-support", "src", "setupEventLoopWatch.ts")
    ],
    alias: {
      ...alias("@wxauth/core", "packages/core"),
      ...alias("@wxauth/sandbox", "packages/sandbox"),
      ...alias("@wxauth/store-redis", "packages/store-redis"),
      ...alias("@wxauth/store-sql", "packages/store-sql"),
      ...alias("@wxauth/compat", "packages/compat"),
      ...alias("@wxauth/http", "packages/http"),
      "@wxauth/test-support/Chromium": path.join(root, "test-support", "src", "Chromium.ts"),
      "@wxauth/test-support": path.join(root, "test-support", "src", "index.ts")
    }
  }
}

export default config
