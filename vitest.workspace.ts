import * as path from "node:path"
import { defineWorkspace } from "vitest/config"

export default defineWorkspace([
  "packages/sandbox",
  "packages/core",
  "packages/store-redis",
  "packages/store-sql",
  "packages/compat",
  "packages/http",
  "examples/web-login",
  "examples/node-http-login"
].map((dir) => path.join(__dirname, dir, "vitest.config.ts")))
