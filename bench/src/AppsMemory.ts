/**
 * `node bench/dist/AppsMemory.js`: the heap a `WeChatApps` registry takes per app, for 10,000 apps
 * (`--apps n` for another count; `--quick`: 1,000 apps, nothing written). Prints the figures and
 * writes them into `bench/results/latest.json` under `appsMemory` (with their own date and revision;
 * every other key of the file is kept as it is).
 *
 * Each figure is measured in a fresh process started with `--expose-gc` (this file, forked with
 * `worker <kind> <apps>`): `heapUsed` after full GCs, before and after, divided by the apps. What the
 * registry is given (the list of apps, or the "database" a resolver reads) is allocated before the
 * first reading, so a figure is what the registry itself adds. A smaller registry is built and used
 * first, so that one-time allocations (lazily built modules, inline caches) are not counted.
 *
 * | kind | what is on the heap |
 * |---|---|
 * | `list-idle` | a registry of a list of apps, none used: each app's checked configuration |
 * | `resolve-idle` | a registry whose resolver reads a `Map` (the database), none used: nothing per app |
 * | `list-oauth` | the list, each app's `oauth(appId)` used once: its configuration and `WeChatOAuth` |
 * | `resolve-oauth` | the resolver, each app's `oauth(appId)` used once: the cached configuration and `WeChatOAuth` |
 * | `list-all` | the list, each app's `oauth`, `miniProgram` and `appToken` used once |
 * | `component-idle` | a list of apps of one third-party platform (`component: true`), none used |
 * | `component-oauth` | that list, each app's `oauth(appId)` used once (`WeChatOAuth.makeForComponent`) |
 */
import { AppTokenStore, Component, TokenStore, WeChatApps, WeChatHttpClient } from "@wxauth/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { execFileSync, fork } from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import { fileURLToPath } from "node:url"

type Kind =
  | "list-idle"
  | "resolve-idle"
  | "list-oauth"
  | "resolve-oauth"
  | "list-all"
  | "component-idle"
  | "component-oauth"
const kinds: ReadonlyArray<Kind> = [
  "list-idle",
  "resolve-idle",
  "list-oauth",
  "resolve-oauth",
  "list-all",
  "component-idle",
  "component-oauth"
]

/** A platform as WeChat's look (nothing is sent: building a service calls nobody). */
const platform = {
  componentAppId: "wx0c0mp0nent000001",
  componentAppSecret: Crypto.randomBytes(16).toString("hex"),
  token: "benchtoken",
  encodingAesKey: Crypto.randomBytes(32).toString("base64").slice(0, 43)
}

const stateSecret = "the bench registry's state secret"

/** An app as a real one looks: `wx` + 16 hex digits, a 32-character secret. */
const appsOf = (count: number, offset: number): Array<WeChatApps.DirectApp> =>
  Array.from({ length: count }, (_, i) => ({
    appId: `wx${(offset + i).toString(16).padStart(16, "0")}`,
    appSecret: Crypto.randomBytes(16).toString("hex")
  }))

const databaseOf = (apps: ReadonlyArray<WeChatApps.DirectApp>) => new Map(apps.map((app) => [app.appId, app]))

const registryOf = (
  kind: Kind,
  apps: ReadonlyArray<WeChatApps.DirectApp>,
  database: ReadonlyMap<string, WeChatApps.DirectApp>
) => {
  const layer = kind.startsWith("list")
    ? WeChatApps.layer({ apps }, { stateSecret })
    : kind.startsWith("component")
    ? WeChatApps.layer({ apps: apps.map(({ appId }) => ({ appId, component: true as const })) }, { stateSecret }).pipe(
      Layer.provide(Component.layer(platform))
    )
    : WeChatApps.layer(
      { resolve: (appId: string) => Effect.sync(() => database.get(appId)), capacity: apps.length },
      { stateSecret }
    )
  return ManagedRuntime.make(
    layer.pipe(
      Layer.provide(Layer.merge(TokenStore.layerMemory, AppTokenStore.layerMemory)),
      Layer.provide(WeChatHttpClient.layer())
    )
  )
}

/** Uses each app as the kind says. */
const use = async (
  kind: Kind,
  runtime: ManagedRuntime.ManagedRuntime<WeChatApps.WeChatApps, unknown>,
  apps: ReadonlyArray<WeChatApps.DirectApp>
) => {
  if (kind.endsWith("idle")) {
    await runtime.runPromise(WeChatApps.WeChatApps)
    return
  }
  await runtime.runPromise(
    Effect.flatMap(WeChatApps.WeChatApps, (registry) =>
      Effect.forEach(
        apps,
        ({ appId }) =>
          kind === "list-all"
            ? Effect.asVoid(Effect.all([registry.oauth(appId), registry.miniProgram(appId), registry.appToken(appId)]))
            : Effect.asVoid(registry.oauth(appId)),
        { discard: true }
      ))
  )
}

const worker = async (kind: Kind, count: number) => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error("the worker needs --expose-gc")
  const heapUsed = () => {
    for (let i = 0; i < 4; i++) gc()
    return process.memoryUsage().heapUsed
  }
  // one-time allocations first
  const warm = appsOf(1_000, 1 << 30)
  const warmRuntime = registryOf(kind, warm, databaseOf(warm))
  await use(kind, warmRuntime, warm)
  await warmRuntime.dispose()

  // what the registry is given is not its own cost
  const apps = appsOf(count, 0)
  const database = databaseOf(apps)
  const before = heapUsed()
  const runtime = registryOf(kind, apps, database)
  await use(kind, runtime, apps)
  const after = heapUsed()
  const bytes = Math.round((after - before) / count)
  await runtime.dispose()
  if (process.send !== undefined) process.send(bytes)
  else console.log(`${kind}: ${bytes} bytes per app`)
}

const measure = (kind: Kind, count: number): Promise<number> =>
  new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ["worker", kind, String(count)], {
      execArgv: ["--expose-gc"],
      stdio: ["ignore", "inherit", "inherit", "ipc"]
    })
    let result: number | undefined
    child.once("message", (message: number) => {
      result = message
    })
    child.once("exit", (code) =>
      result !== undefined ? resolve(result) : reject(new Error(`the ${kind} worker exited (${code})`)))
  })

/** The commit, and which packages differ from it (what was measured is the working tree's build). */
const revision = () => {
  try {
    const git = (...args: Array<string>) =>
      execFileSync("git", args, { cwd: fileURLToPath(new URL("../..", import.meta.url)), encoding: "utf8" })
    // not trimmed: each porcelain line starts with two status columns, the first may be a space
    const changed = git("status", "--porcelain", "--", "packages").split("\n").filter((line) => line.length > 0)
    const uncommitted = [...new Set(changed.map((line) => line.slice(3).split("/").slice(0, 2).join("/")))].sort()
    return { commit: git("rev-parse", "--short", "HEAD").trim(), uncommitted }
  } catch {
    return null
  }
}

const main = async () => {
  const args = process.argv.slice(2)
  const quick = args.includes("--quick")
  const appsArg = args.indexOf("--apps")
  const count = appsArg >= 0 ? Number(args[appsArg + 1]) : quick ? 1_000 : 10_000
  if (!Number.isSafeInteger(count) || count < 1) throw new Error("--apps takes a positive integer")
  const bytes: Partial<Record<Kind, number>> = {}
  for (const kind of kinds) {
    bytes[kind] = await measure(kind, count)
    process.stderr.write(`apps memory: ${kind} ${bytes[kind]} bytes per app\n`)
  }
  const result = {
    generatedAt: new Date().toISOString(),
    revision: revision(),
    node: process.version,
    apps: count,
    list: {
      idleBytesPerApp: bytes["list-idle"]!,
      oauthBytesPerApp: bytes["list-oauth"]!,
      allServicesBytesPerApp: bytes["list-all"]!
    },
    resolve: {
      idleBytesPerApp: bytes["resolve-idle"]!,
      oauthBytesPerApp: bytes["resolve-oauth"]!
    },
    component: {
      idleBytesPerApp: bytes["component-idle"]!,
      oauthBytesPerApp: bytes["component-oauth"]!
    }
  }
  const rows: ReadonlyArray<readonly [string, number]> = [
    ["list of apps, none used (idle)", result.list.idleBytesPerApp],
    ["list, oauth(appId) used once", result.list.oauthBytesPerApp],
    ["list, oauth + miniProgram + appToken used", result.list.allServicesBytesPerApp],
    ["resolver, none used (idle)", result.resolve.idleBytesPerApp],
    ["resolver, oauth(appId) used once", result.resolve.oauthBytesPerApp],
    ["platform's apps (component: true), idle", result.component.idleBytesPerApp],
    ["platform's apps, oauth(appId) used once", result.component.oauthBytesPerApp]
  ]
  console.log(
    [
      `WeChatApps heap per app, ${count} apps (node ${process.version}; after full GCs)`,
      ...rows.map(([what, bytes]) =>
        `  ${`${what}:`.padEnd(46)}${String(bytes).padStart(7)} B  (${(bytes / 1024).toFixed(2)} KiB)`
      )
    ].join("\n")
  )
  if (quick) return
  const file = fileURLToPath(new URL("../results/latest.json", import.meta.url))
  const existing = Fs.existsSync(file) ? JSON.parse(Fs.readFileSync(file, "utf8")) as Record<string, unknown> : {}
  Fs.writeFileSync(file, JSON.stringify({ ...existing, appsMemory: result }, null, 2) + "\n")
  process.stderr.write(`apps memory: wrote appsMemory into ${file}\n`)
}

const [mode, kind, count] = process.argv.slice(2)
const run = mode === "worker" ? worker(kind as Kind, Number(count)) : main()
run.catch((error) => {
  console.error(error)
  process.exit(1)
})
