/**
 * The install test (`npm run test:install`, the last step of `npm test`): every published package
 * installed as a user installs it, from its tarball and its README's install line.
 *
 * 1. `npm pack` every workspace package that is not private (found from the root `workspaces`, so a
 *    package added later is tested too) after its `prepack`, a clean build, as `npm publish` does
 *    (the usual clean build of all packages runs as one `tsc -b`; another prepack runs as it is).
 * 2. `publint` and `attw` (`--ignore-rules cjs-resolves-to-esm`, every module behind a wildcard
 *    export included) on each tarball: any finding fails.
 * 3. For each package, an empty project: the install lines of its README (`npm install ...` in a
 *    sh block), as written, with the tarballs in place of the `@wxauth/*` names, then the install
 *    lines of the other `@wxauth/*` packages its programs import (the sandbox, as WeChat).
 *    `--prefer-offline` is added; a line installing the SQLite driver also gets `--ignore-scripts`
 *    (no native build: that driver is only type-checked). Then `npm ls --all` must be clean
 *    (an unpinned `effect` gets Effect 4 and an invalid peer), every `@wxauth/*` must come from a
 *    tarball, and every `effect` / `@effect/*` package the README names must carry a version range.
 * 4. The package's programs (`scripts/install-test/<dir>/main.mjs`, `main.cjs`) run with Node and
 *    must exit 0. A program that needs Redis or PostgreSQL exits 77 when it cannot reach it: a
 *    skip with a warning, or a failure when `CI` is set (not empty, 0 or false).
 * 5. `tsc --noEmit --strict` of every `types.ts` under `moduleResolution` `nodenext`, `bundler` and
 *    `node10` (with `module: commonjs`), and of the `types.cts` / `types.cjs` files (CommonJS; the
 *    `.cjs` under `checkJs`) under `nodenext`.
 *
 * Usage: node scripts/install-test.mjs [--keep] [--only core,compat]
 *   --keep  leaves the temporary projects in place (they are kept anyway when something fails, and
 *           their path is printed)
 *   --only  while working on some packages: checks, installs and runs only those (all are packed)
 */
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { performance } from "node:perf_hooks"

const root = Path.resolve(import.meta.dirname, "..")
const fixtures = Path.join(import.meta.dirname, "install-test")
const tsc = Path.join(root, "node_modules", "typescript", "bin", "tsc")
const attw = Path.join(root, "node_modules", "@arethetypeswrong", "cli", "dist", "index.js")
const keep = process.argv.includes("--keep")
const onlyAt = process.argv.findIndex((arg) => arg === "--only" || arg.startsWith("--only="))
const only = onlyAt === -1
  ? undefined
  : (process.argv[onlyAt].includes("=") ? process.argv[onlyAt].split("=")[1] : process.argv[onlyAt + 1] ?? "")
    .split(",")
    .filter((name) => name !== "")
const started = performance.now()
const work = Fs.mkdtempSync(Path.join(Os.tmpdir(), "wxauth-install-test-"))
const tarballs = Path.join(work, "tarballs")
Fs.mkdirSync(tarballs)

const results = []
const seconds = (since) => `${((performance.now() - since) / 1000).toFixed(1)} s`
const record = (name, ok, since, detail = "") => {
  results.push({ name, ok, detail })
  console.log(`${ok === "skip" ? "SKIP" : ok ? "ok  " : "FAIL"} ${name} (${seconds(since)})`)
  if (ok !== true && detail !== "") console.log(indent(detail))
}
const indent = (text) => text.trimEnd().split("\n").slice(-60).map((line) => `     | ${line}`).join("\n")

/** Runs a command; resolves with its exit code and its output (stdout and stderr interleaved). */
const run = (command, args, options = {}) =>
  new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? root,
      env: { ...process.env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    let stdout = ""
    child.stdout.on("data", (chunk) => {
      output += chunk
      stdout += chunk
    })
    child.stderr.on("data", (chunk) => (output += chunk))
    const timer = setTimeout(() => {
      output += `\n(killed after ${options.timeout / 1000} s)`
      child.kill("SIGKILL")
    }, options.timeout ?? 300_000)
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      resolve({ code: code ?? (signal ? 128 : 1), output, stdout })
    })
    child.on("error", (error) => {
      clearTimeout(timer)
      resolve({ code: 1, output: `${output}\n${error.message}`, stdout })
    })
  })

const npm = (args, cwd, timeout) => run("npm", args, { cwd, timeout, env: { npm_config_update_notifier: "false" } })

/** At most `limit` of the tasks at once. */
const pool = async (limit, items, task) => {
  const queue = [...items]
  await Promise.all(
    Array.from({ length: Math.min(limit, queue.length) }, async () => {
      while (queue.length > 0) await task(queue.shift())
    })
  )
}

const readJson = (file) => JSON.parse(Fs.readFileSync(file, "utf8"))

/** The lines of `npm ls` that say what is wrong (a missing optional platform package is not). */
const problemLines = (output) =>
  output.split("\n").filter((line) =>
    /\b(invalid|missing|extraneous|ELSPROBLEMS|ERESOLVE)\b|UNMET (PEER )?DEPENDENCY|npm error/.test(line)
  )

// --- the packages ----------------------------------------------------------------------------------

const workspaceDirs = (readJson(Path.join(root, "package.json")).workspaces ?? []).flatMap((pattern) => {
  if (!pattern.endsWith("/*")) return [pattern]
  const parent = pattern.slice(0, -2)
  return Fs.readdirSync(Path.join(root, parent), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => `${parent}/${entry.name}`)
})
const packages = workspaceDirs
  .filter((dir) => Fs.existsSync(Path.join(root, dir, "package.json")))
  .map((dir) => ({ dir, short: Path.basename(dir), json: readJson(Path.join(root, dir, "package.json")) }))
  .filter((pkg) => pkg.json.private !== true)
const byName = new Map(packages.map((pkg) => [pkg.json.name, pkg]))
const isOurs = (name) => byName.has(name)

// dependencies first, so that a package's prepack finds them built
const ordered = []
const visit = (pkg, path = []) => {
  if (ordered.includes(pkg)) return
  if (path.includes(pkg)) throw new Error(`dependency cycle: ${[...path, pkg].map((p) => p.json.name).join(" -> ")}`)
  const { dependencies = {}, peerDependencies = {} } = pkg.json
  for (const name of Object.keys({ ...dependencies, ...peerDependencies })) {
    if (isOurs(name)) visit(byName.get(name), [...path, pkg])
  }
  ordered.push(pkg)
}
packages.forEach((pkg) => visit(pkg))

/** The `npm install` lines of a README's sh blocks, comments dropped. */
const installLines = (pkg) => {
  const file = Path.join(root, pkg.dir, "README.md")
  if (!Fs.existsSync(file)) return []
  const blocks = [...Fs.readFileSync(file, "utf8").matchAll(/```(?:sh|bash|shell|console)\n([\s\S]*?)```/g)]
  return blocks
    .flatMap((block) => block[1].split("\n"))
    .map((line) => line.replace(/^\$\s+/, "").replace(/\s+#.*$/, "").trim())
    .filter((line) => /^npm (install|i|add)\s/.test(line))
}

const versionOf = (spec) => {
  const at = spec.indexOf("@", 1)
  return at === -1 ? { name: spec, range: undefined } : { name: spec.slice(0, at), range: spec.slice(at + 1) }
}

/** The README's line as npm arguments: `@wxauth/*` names become tarballs; problems are reported. */
const toArgs = (line, tarballOf) => {
  const problems = []
  const words = line.split(/\s+/).slice(1)
  const args = words.map((word) => {
    if (word.startsWith("-")) return word
    const { name, range } = versionOf(word)
    if (isOurs(name)) {
      if (range !== undefined) problems.push(`"${word}": a @wxauth package is named without a version`)
      return tarballOf(name)
    }
    if (name.startsWith("@wxauth/")) problems.push(`"${word}" is not a package of this repository`)
    if (
      (name === "effect" || name.startsWith("@effect/")) && (range === undefined || range === "" || range === "latest")
    ) {
      problems.push(`"${word}" is not pinned to a version range: npm would install its latest version`)
    }
    return word
  })
  const sqlite = words.some((word) => /^(@effect\/sql-sqlite-node|better-sqlite3)(@|$)/.test(word))
  return {
    args: [...args, "--prefer-offline", "--no-audit", "--no-fund", ...(sqlite ? ["--ignore-scripts"] : [])],
    problems
  }
}

// --- 1. pack -------------------------------------------------------------------------------------

console.log(`install test: ${ordered.map((pkg) => pkg.json.name).join(", ")} (in ${work})`)

// The packages' usual prepack is a clean build (dist/ and build/ removed, then `tsc -b`). Packages
// whose prepack is exactly that are built together, in one `tsc -b` (the same output, in one
// process), and packed without running it again; any other prepack runs as `npm pack` runs it.
const cleanBuild =
  "node -e \"for (const d of ['dist', 'build']) require('fs').rmSync(d, { recursive: true, force: true })\"" +
  " && tsc -b tsconfig.src.json"
const builtTogether = ordered.filter((pkg) => pkg.json.scripts?.prepack === cleanBuild)
const unbuilt = new Set()
if (builtTogether.length > 0) {
  const since = performance.now()
  for (const pkg of builtTogether) {
    for (const dir of ["dist", "build"]) Fs.rmSync(Path.join(root, pkg.dir, dir), { recursive: true, force: true })
  }
  const built = await run(
    process.execPath,
    [tsc, "-b", ...builtTogether.map((pkg) => Path.join(pkg.dir, "tsconfig.src.json"))],
    { timeout: 600_000 }
  )
  record(
    `clean build (prepack) of ${builtTogether.map((pkg) => pkg.json.name).join(", ")}`,
    built.code === 0,
    since,
    built.output
  )
  if (built.code !== 0) builtTogether.forEach((pkg) => unbuilt.add(pkg))
}

const tarballOf = new Map()
const packedFiles = new Map()
for (const pkg of ordered.filter((pkg) => !unbuilt.has(pkg))) {
  const since = performance.now()
  const packed = await npm(
    ["pack", "--json", "--pack-destination", tarballs, ...(builtTogether.includes(pkg) ? ["--ignore-scripts"] : [])],
    Path.join(root, pkg.dir),
    300_000
  )
  let info
  try {
    info = JSON.parse(packed.stdout.slice(packed.stdout.indexOf("[")))[0]
  } catch {
    info = undefined
  }
  if (packed.code !== 0 || info === undefined) {
    record(`pack ${pkg.json.name}`, false, since, packed.output)
    continue
  }
  const files = info.files.map((file) => file.path)
  const missing = ["LICENSE", "README.md", "package.json"].filter((file) => !files.includes(file))
  const license = Path.join(root, pkg.dir, "LICENSE")
  if (
    Fs.existsSync(license) && Fs.readFileSync(license, "utf8") !== Fs.readFileSync(Path.join(root, "LICENSE"), "utf8")
  ) {
    missing.push(`the root's LICENSE (${pkg.dir}/LICENSE differs from it)`)
  }
  tarballOf.set(pkg.json.name, Path.join(tarballs, info.filename))
  packedFiles.set(pkg.json.name, files)
  record(
    `pack ${pkg.json.name} (${files.length} files, ${(info.size / 1024).toFixed(0)} KiB)`,
    missing.length === 0,
    since,
    missing.length === 0 ? "" : `the tarball has no ${missing.join(", ")}`
  )
}
const packedPackages = ordered.filter((pkg) => tarballOf.has(pkg.json.name))
  .filter((pkg) => only === undefined || only.includes(pkg.short) || only.includes(pkg.json.name))
if (only !== undefined && packedPackages.length === 0) {
  record(`--only ${only.join(",")}`, false, performance.now(), "names no package of this repository")
}

// --- 2. publint and attw (run while the projects install) -----------------------------------------

/** Every module behind a wildcard export (`"./*": "./dist/*.js"`), for attw, which skips wildcards. */
const wildcardEntrypoints = (pkg) => {
  const exports = pkg.json.exports
  if (exports === null || typeof exports !== "object") return []
  const target = (value) =>
    typeof value === "string"
      ? value
      : value && typeof value === "object"
      ? target(value.default ?? value.import)
      : null
  const blocked = Object.entries(exports).filter(([, value]) => value === null).map(([key]) => key)
  const files = packedFiles.get(pkg.json.name)
  const entrypoints = []
  for (const [key, value] of Object.entries(exports)) {
    const to = target(value)
    if (!key.includes("*") || to === null) continue
    const [before, after] = to.replace(/^\.\//, "").split("*")
    for (const file of files) {
      if (!file.startsWith(before) || !file.endsWith(after)) continue
      const entry = key.replace("*", file.slice(before.length, file.length - after.length))
      const isBlocked = blocked.some((b) => b.includes("*") ? entry.startsWith(b.split("*")[0]) : entry === b)
      if (!isBlocked && !(entry in exports)) entrypoints.push(entry)
    }
  }
  return entrypoints
}

const linting = pool(1, packedPackages, async (pkg) => {
  const tarball = tarballOf.get(pkg.json.name)
  let since = performance.now()
  const { publint } = await import("publint")
  const { formatMessage } = await import("publint/utils")
  const bytes = Fs.readFileSync(tarball)
  const { messages, pkg: packedJson } = await publint({
    pack: { tarball: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) },
    level: "suggestion",
    strict: true
  })
  record(
    `publint ${pkg.json.name}`,
    messages.length === 0,
    since,
    messages.map((message) => `${message.type}: ${formatMessage(message, packedJson) ?? message.code}`).join("\n")
  )
  since = performance.now()
  const entrypoints = wildcardEntrypoints(pkg)
  const checked = await run(process.execPath, [
    attw,
    tarball,
    "--ignore-rules",
    "cjs-resolves-to-esm",
    "--format",
    "table-flipped",
    "--no-color",
    "--no-emoji",
    ...(entrypoints.length > 0 ? ["--include-entrypoints", ...entrypoints] : [])
  ], { timeout: 120_000 })
  record(
    `attw ${pkg.json.name} (${entrypoints.length + Object.keys(pkg.json.exports ?? {}).length} entry points)`,
    checked.code === 0,
    since,
    checked.output
  )
})

// --- 5. types (run by each project once it is installed) -----------------------------------------

// as `tsc --init` sets them (strict, esModuleInterop, skipLibCheck); each project is checked on its
// own, with its own node_modules
const compilerOptions = {
  strict: true,
  noEmit: true,
  target: "es2022",
  lib: ["es2022"],
  types: ["node"],
  typeRoots: [Path.join(root, "node_modules", "@types")],
  esModuleInterop: true,
  skipLibCheck: true,
  forceConsistentCasingInFileNames: true
}
const resolutions = [
  {
    name: "nodenext",
    options: { module: "nodenext", moduleResolution: "nodenext", allowJs: true, checkJs: true },
    include: ["types.ts", "types.cts", "types.cjs"]
  },
  { name: "bundler", options: { module: "esnext", moduleResolution: "bundler" }, include: ["types.ts"] },
  { name: "node10", options: { module: "commonjs", moduleResolution: "node10" }, include: ["types.ts"] }
]

/** The three configurations of a project, checked in one `tsc -b` (one process shares the parsing). */
const typeCheck = async (dir) => {
  const short = Path.basename(dir)
  if (!Fs.existsSync(Path.join(dir, "types.ts"))) {
    record(`${short}: tsc`, false, performance.now(), "no types.ts to type-check")
    return
  }
  const since = performance.now()
  const checked = resolutions.map((resolution) => {
    const files = resolution.include.filter((file) => Fs.existsSync(Path.join(dir, file)))
    const config = `tsconfig.${resolution.name}.json`
    const options = { ...compilerOptions, ...resolution.options }
    Fs.writeFileSync(Path.join(dir, config), JSON.stringify({ compilerOptions: options, files }, null, 2))
    return { config, label: `${resolution.name} (${files.join(", ")})` }
  })
  const built = await run(process.execPath, [tsc, "-b", "--verbose", ...checked.map((check) => check.config)], {
    cwd: dir,
    timeout: 300_000
  })
  const output = built.output.split("\n")
    .filter((line) =>
      line.trim() !== "" && !/ - (Projects in this build|Project '.*' is out of date)|^\s+\* /.test(line)
    )
    .join("\n")
  record(
    `${short}: tsc --strict, moduleResolution ${checked.map((check) => check.label).join(", ")}`,
    built.code === 0,
    since,
    output
  )
}

// --- 3. install, 4. run --------------------------------------------------------------------------

const ciValue = (process.env.CI ?? "").trim().toLowerCase()
const inCi = ciValue !== "" && ciValue !== "0" && ciValue !== "false"

const installAndRun = async (pkg) => {
  const source = Path.join(fixtures, pkg.short)
  const name = pkg.json.name
  if (!Fs.existsSync(source)) {
    record(
      `programs of ${name}`,
      false,
      performance.now(),
      `no programs: add them under ${Path.relative(root, source)}/`
    )
    return
  }
  const dir = Path.join(work, pkg.short)
  Fs.cpSync(source, dir, { recursive: true })
  Fs.writeFileSync(
    Path.join(dir, "package.json"),
    JSON.stringify({ name: `install-test-${pkg.short}`, private: true, type: "module" }, null, 2)
  )
  const files = Fs.readdirSync(dir)
  const imported = new Set(
    files.flatMap((file) =>
      [...Fs.readFileSync(Path.join(dir, file), "utf8").matchAll(/["'](@wxauth\/[\w-]+)/g)].map((m) => m[1])
    )
  )
  const others = [...imported].filter((other) => other !== name).map((other) => byName.get(other))
  if (others.includes(undefined)) {
    record(`install ${name}`, false, performance.now(), "a program imports a @wxauth package this repository lacks")
    return
  }
  const lineless = [pkg, ...others].filter((owner) => installLines(owner).length === 0)
  if (lineless.length > 0) {
    const readmes = lineless.map((owner) => `${owner.dir}/README.md`).join(", ")
    record(`install ${name}`, false, performance.now(), `no \`npm install\` line in a sh block of ${readmes}`)
    return
  }
  // another package's line only for a package the project's own lines do not install
  const named = (lines) => lines.flatMap((line) => line.split(/\s+/).map((word) => versionOf(word).name))
  const ownNames = named(installLines(pkg))
  const lines = [pkg, ...others.filter((other) => !ownNames.includes(other.json.name))]
    .flatMap((owner) => installLines(owner).map((line) => ({ owner, line })))
  // `npm ls --all` once the package's own lines ran (a later line could mend what they broke); every
  // @wxauth package from a tarball once all ran
  const listCheck = async () => {
    const since = performance.now()
    const listed = await npm(["ls", "--all"], dir, 120_000)
    record(
      `${pkg.short}: npm ls --all, after ${pkg.dir}/README.md's lines`,
      listed.code === 0,
      since,
      problemLines(listed.output).join("\n")
    )
  }
  for (const [i, { line, owner }] of lines.entries()) {
    const since = performance.now()
    const { args, problems } = toArgs(line, (n) => tarballOf.get(n) ?? n)
    const installed = await npm(args, dir, 300_000)
    const label = `${pkg.short}: ${line}${owner === pkg ? "" : ` (${owner.dir}/README.md)`}`
    const ok = installed.code === 0 && problems.length === 0
    record(label, ok, since, [...problems, ...(installed.code === 0 ? [] : [installed.output])].join("\n"))
    if (installed.code !== 0) return
    if (owner === pkg && lines[i + 1]?.owner !== pkg) await listCheck()
  }
  const lock = readJson(Path.join(dir, "node_modules", ".package-lock.json")).packages
  const notTarballs = Object.entries(lock)
    .filter(([path]) => /node_modules\/@wxauth\//.test(path))
    .filter(([, entry]) => !String(entry.resolved ?? "").startsWith("file:"))
    .map(([path, entry]) => `${path} came from ${entry.resolved ?? "the registry"}, not a tarball`)
  if (notTarballs.length > 0) record(`${pkg.short}: @wxauth packages`, false, performance.now(), notTarballs.join("\n"))
  for (const program of files.filter((file) => /^main\.(mjs|cjs)$/.test(file))) {
    const since = performance.now()
    const ran = await run(process.execPath, [program], { cwd: dir, timeout: 90_000 })
    if (ran.code === 77 && !inCi) {
      record(`${pkg.short}: node ${program}`, "skip", since, `!!! SKIPPED outside CI:\n${ran.output}`)
    } else {
      record(`${pkg.short}: node ${program}`, ran.code === 0, since, ran.output)
    }
  }
  await typeCheck(dir)
}

await pool(3, packedPackages, installAndRun)
await linting

// --- summary -------------------------------------------------------------------------------------

const failed = results.filter((result) => result.ok === false)
const skipped = results.filter((result) => result.ok === "skip")
const passed = results.length - failed.length - skipped.length
if (failed.length === 0 && !keep) Fs.rmSync(work, { recursive: true, force: true })
else console.log(`the projects are in ${work}`)
for (const failure of failed) console.log(`failed: ${failure.name}`)
console.log(`install test, ${seconds(started)}:`)
console.log(`${passed} passed, ${failed.length} failed${skipped.length > 0 ? `, ${skipped.length} skipped` : ""}`)
process.exit(failed.length === 0 ? 0 : 1)
