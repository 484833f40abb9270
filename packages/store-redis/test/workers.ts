/**
 * Test helpers for the multi-process tests: worker processes that run plain node on the built
 * packages (`dist`), as a deployment would, and the build they need.
 */
import { buildProject } from "@wxauth/test-support"
import * as Effect from "effect/Effect"
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"
import * as Url from "node:url"

const here = Path.dirname(Url.fileURLToPath(import.meta.url))
const repository = Path.resolve(here, "../../..")

/**
 * Brings the build of @wxauth/core and @wxauth/store-redis up to date (`tsc -b`, incremental): the
 * workers import them from dist. For a `beforeAll` (it may take minutes on a cold build).
 */
export const buildForWorkers = (): Promise<void> =>
  buildProject("packages/store-redis/tsconfig.src.json", { cwd: repository })

/**
 * A worker process running `fixtures/<script>` with `env` added to ours, killed with the scope if it
 * is still running. `ready` and `done` settle with its first report of that type (over IPC), or
 * reject, with its output, when it exits before.
 */
export const spawnWorker = <Report extends { readonly type: "ready" | "done" }>(
  script: string,
  env: Record<string, string>
) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child = ChildProcess.fork(Path.join(here, "fixtures", script), [], {
        cwd: repository,
        env: { ...process.env, ...env },
        execArgv: [],
        stdio: ["ignore", "pipe", "pipe", "ipc"]
      })
      let output = ""
      child.stdout!.on("data", (data) => (output += data))
      child.stderr!.on("data", (data) => (output += data))
      const report = <T extends Report["type"]>(type: T) =>
        new Promise<Extract<Report, { type: T }>>((resolve, reject) => {
          const onMessage = (message: Report) => {
            if (message.type !== type) return
            child.off("exit", onExit)
            resolve(message as Extract<Report, { type: T }>)
          }
          const onExit = (code: number | null) =>
            reject(new Error(`a worker exited (code ${code}) before "${type}":\n${output}`))
          child.on("message", onMessage)
          child.once("exit", onExit)
        })
      return { child, ready: report("ready"), done: report("done") }
    }),
    ({ child }) => Effect.sync(() => child.exitCode === null && child.kill())
  )
