/**
 * `npm run demo`: compiles the web-login example and the packages it uses (`tsc -b`, incremental),
 * then runs it in this process. With no `WECHAT_*` variables set it starts in demo mode: a sandbox
 * WeChat in-process, SQLite token store, and prints the URL to open. Ctrl-C stops it.
 *
 * Any variable the example reads (`PORT`, `SANDBOX_PORT`, `WECHAT_APP_ID`, ...) passes through.
 */
import { spawnSync } from "node:child_process"
import { createRequire } from "node:module"
import * as Path from "node:path"
import * as Url from "node:url"

const root = Path.resolve(Path.dirname(Url.fileURLToPath(import.meta.url)), "..")
const project = Path.join("examples", "web-login", "tsconfig.src.json")
const main = Path.join(root, "examples", "web-login", "dist", "main.js")

const fail = (message) => {
  console.error(`\nnpm run demo: ${message}\n`)
  process.exit(1)
}

const [major, minor] = process.versions.node.split(".").map(Number)
if (major < 20 || (major === 20 && minor < 19)) {
  fail(`Node ${process.versions.node} is too old: wxauth needs Node 20.19 or newer.`)
}

let tsc
try {
  tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc")
} catch {
  fail("TypeScript is not installed: run `npm ci` at the repository root first.")
}

console.log(`Building the web-login example and the packages it uses (tsc -b ${project}) ...`)
const build = spawnSync(process.execPath, [tsc, "-b", project], { cwd: root, stdio: "inherit" })
if (build.error !== undefined) fail(`could not run tsc: ${build.error.message}`)
if (build.status !== 0) fail("the build failed (see above).")

await import(Url.pathToFileURL(main).href)
