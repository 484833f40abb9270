/**
 * Clients run in a child process started with other V8 flags (`--no-allocation-site-pretenuring`),
 * measured by the same harness as the others: the parent tells the child when to warm up and when
 * to measure, and counts the sandbox server's CPU around each measured run, as it does for its own
 * clients. The child (`flagWorker.ts`) builds the raw client and wxauth (memory store, lean client,
 * through `runPromise` and as fibers) against the parent's sandbox.
 */
import { type ChildProcess, fork } from "node:child_process"
import { fileURLToPath } from "node:url"
import type * as Harness from "./Harness.js"
import type { Grant } from "./SandboxProcess.js"

/** What the child builds its clients from. */
export interface Setup {
  readonly sandboxUrl: string
  /** For the raw client: a token of its own. */
  readonly grant: Grant
  /** For each wxauth client: the callback URL of a consent, with a fresh code. */
  readonly callbackUrls: ReadonlyArray<string>
}

/** Messages to the child. */
export type ToWorker =
  | {
    readonly type: "warmUp"
    readonly id: number
    readonly name: string
    readonly calls: number
    readonly concurrency: number
  }
  | {
    readonly type: "measure"
    readonly id: number
    readonly name: string
    readonly calls: number
    readonly concurrency: number
  }
  | { readonly type: "close"; readonly id: number }

/** Messages from the child. */
export type FromWorker =
  | {
    readonly type: "ready"
    readonly subjects: ReadonlyArray<{ readonly name: string; readonly client: "raw" | "wxauth" }>
  }
  | { readonly type: "done"; readonly id: number; readonly measurement?: Harness.Measurement | undefined }
  | { readonly type: "failed"; readonly id: number; readonly message: string }

/** One of the child's clients, driven from the parent. */
export interface RemoteSubject {
  readonly name: string
  readonly client: "raw" | "wxauth"
  readonly warmUp: (calls: number, concurrency: number) => Promise<void>
  /** A measured run in the child; its CPU is the child's, `serverCpuUsPerCall` is left to the caller. */
  readonly measure: (calls: number, concurrency: number) => Promise<Harness.Measurement>
}

export interface FlagProcess {
  readonly flags: ReadonlyArray<string>
  readonly subjects: ReadonlyArray<RemoteSubject>
  readonly close: () => Promise<void>
}

const workerEntry = fileURLToPath(new URL("./flagWorker.js", import.meta.url))

/** Starts the child with `flags` and waits until its clients are logged in. */
export const start = (flags: ReadonlyArray<string>, setup: Setup): Promise<FlagProcess> =>
  new Promise((resolve, reject) => {
    const child: ChildProcess = fork(workerEntry, [JSON.stringify(setup)], {
      execArgv: [...process.execArgv, ...flags],
      stdio: ["ignore", "inherit", "inherit", "ipc"]
    })
    const pending = new Map<number, { resolve: (m: FromWorker) => void; reject: (e: Error) => void }>()
    let nextId = 0
    const ask = (message: (id: number) => ToWorker) =>
      new Promise<FromWorker>((resolveAnswer, rejectAnswer) => {
        const id = nextId++
        pending.set(id, { resolve: resolveAnswer, reject: rejectAnswer })
        child.send(message(id))
      })
    child.once("exit", (code) => {
      const error = new Error(`the ${flags.join(" ")} worker exited (${code})`)
      reject(error)
      for (const waiter of pending.values()) waiter.reject(error)
      pending.clear()
    })
    child.on("message", (message: FromWorker) => {
      if (message.type === "ready") {
        resolve({
          flags,
          subjects: message.subjects.map(({ client, name }) => ({
            name,
            client,
            warmUp: async (calls, concurrency) => {
              await ask((id) => ({ type: "warmUp", id, name, calls, concurrency }))
            },
            measure: async (calls, concurrency) => {
              const answer = await ask((id) => ({ type: "measure", id, name, calls, concurrency }))
              if (answer.type !== "done" || answer.measurement === undefined) throw new Error("no measurement")
              return answer.measurement
            }
          })),
          close: async () => {
            if (child.exitCode !== null) return
            const exited = new Promise<void>((resolveExit) => child.once("exit", () => resolveExit()))
            await ask((id) => ({ type: "close", id })).catch(() => undefined)
            await exited
          }
        })
        return
      }
      const waiter = pending.get(message.id)
      pending.delete(message.id)
      if (message.type === "failed") waiter?.reject(new Error(`the ${flags.join(" ")} worker: ${message.message}`))
      else waiter?.resolve(message)
    })
  })
