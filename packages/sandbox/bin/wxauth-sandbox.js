#!/usr/bin/env node
// The `wxauth-sandbox` command. npm links a package's bins at install time and silently skips a bin
// whose file does not exist yet; in this monorepo `dist/` is built after `npm ci`, so the bin is this
// committed file, which runs the built CLI (`dist/bin.js`).
import { existsSync } from "node:fs"

const cli = new URL("../dist/bin.js", import.meta.url)
if (!existsSync(cli)) {
  console.error("wxauth-sandbox: @wxauth/sandbox is not built yet: run `npm run build` first")
  process.exit(1)
}
await import(cli.href)
