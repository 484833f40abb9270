/**
 * `npm run demo`: compiles the web-login example and the packages it uses (`tsc -b`, incremental;
 * a line per project as it builds), then runs it in this process. With no `WECHAT_*` variables set
 * it starts in demo mode: a sandbox WeChat in-process, SQLite token store, and prints the URL to
 * open. Ctrl-C stops it.
 *
 * Any variable the example reads (`PORT`, `SANDBOX_PORT`, `WECHAT_APP_ID`, ...) passes through.
 */
import { spawn } from "node:child_process"
import { createRequire } from "node:module"
import * as Path from "node:path"
import { performance } from "node:perf_hooks"
import * as Readline from "node:readline"
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

/**
 * `tsc -b --verbose`, told as progress: one line per project built (about a minute in all the first
 * time, on two cores; seconds later, when little changed), and the compiler's errors as they are.
 */
const build = () =>
  new Promise((resolve) => {
    const started = performance.now()
    const elapsed = () => `${((performance.now() - started) / 1000).toFixed(0)} s`
    const child = spawn(process.execPath, [tsc, "-b", "--verbose", project], {
      cwd: root,
      stdio: ["ignore", "pipe", "inherit"]
    })
    child.on("error", (error) => fail(`could not run tsc: ${error.message}`))
    const projects = []
    let listing = false
    let built = 0
    Readline.createInterface({ input: child.stdout }).on("line", (raw) => {
      const line = raw.replace(/^(\[[^\]]*\]|[\d:]+\s*([AP]M)?)\s+-\s+/, "")
      const listed = /^\s+\* (.+)$/.exec(line)
      if (listing && listed !== null) {
        projects.push(listed[1])
        return
      }
      listing = false
      if (line.startsWith("Projects in this build:")) {
        listing = true
        return
      }
      const building = /^Building project '(.+)'\.\.\.$/.exec(line)
      if (building !== null) {
        built++
        const name = Path.relative(root, Path.dirname(building[1])) || "."
        const first = built === 1 ? " (the first build takes about a minute; later ones only what changed)" : ""
        console.log(`  [${elapsed().padStart(4)}] building ${name}${first}`)
        return
      }
      if (/^Project '.+' is (up to date|out of date)|^Updating (unchanged )?output timestamps|^$/.test(line)) return
      console.log(raw)
    })
    child.on("close", (code) => {
      if (code === 0) {
        const upToDate = projects.length - built
        console.log(
          `  built in ${elapsed()} (${built} of ${projects.length} projects built${
            upToDate > 0 ? `, ${upToDate} up to date` : ""
          }); starting ...\n`
        )
      }
      resolve(code)
    })
  })

console.log(`Building the web-login example and the packages it uses (tsc -b ${project}) ...`)
if ((await build()) !== 0) fail("the build failed (see above).")

await import(Url.pathToFileURL(main).href)
