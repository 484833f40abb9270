/**
 * Test helpers: a sandbox WeChat on a real HTTP port, consent as a browser would give it, and the
 * sandbox's call counters.
 */
import { Sandbox, SandboxServer } from "@wxauth/sandbox"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Http from "node:http"

export const OA = Sandbox.defaultApps.officialAccount
export const WEB = Sandbox.defaultApps.website
export const MINI = Sandbox.defaultApps.miniProgram
export const redirectUri = "https://app.example.com/auth/callback"

export interface RunningSandbox {
  /** The server's base URL, for both the API and the consent pages. */
  readonly url: string
  readonly sandbox: Sandbox.SandboxService
  readonly dispose: () => Promise<void>
  /** Consents as `user` and returns the callback URL WeChat would redirect to (with a fresh code). */
  readonly approve: (options?: {
    readonly user?: string
    readonly scope?: string
    readonly state?: string
    readonly app?: Sandbox.SandboxApp
  }) => Promise<string>
  /** A fresh code for `user`. */
  readonly code: (options?: { readonly user?: string; readonly scope?: string }) => Promise<string>
  readonly stats: () => Promise<Readonly<Record<Sandbox.Endpoint, number>>>
  readonly run: <A, E>(effect: Effect.Effect<A, E, Sandbox.Sandbox>) => Promise<A>
}

/**
 * The default apps, answering as WeChat did before 2021 (`profile: "pre2021"`): the users' sex and
 * places in `/sns/userinfo`, their nickname in a mini program's decrypted data, which the seeds'
 * examples show and the tests of `lang` need.
 */
const pre2021Apps = Object.values(Sandbox.defaultApps).map((app) => ({ ...app, profile: "pre2021" as const }))

/** Starts a sandbox HTTP server on a free port (one per test file: counters are shared within it). */
export const startSandbox = async (): Promise<RunningSandbox> => {
  const runtime = ManagedRuntime.make(
    Sandbox.layerServer({ port: 0 }).pipe(Layer.provideMerge(Sandbox.layer({ apps: pre2021Apps })))
  )
  const { sandbox, server } = await runtime.runPromise(
    Effect.all({ sandbox: Sandbox.Sandbox, server: SandboxServer.SandboxServer })
  )
  const approve: RunningSandbox["approve"] = (options) =>
    runtime.runPromise(sandbox.approve({
      appId: (options?.app ?? OA).appId,
      user: options?.user ?? "alice",
      scope: options?.scope ?? ((options?.app ?? OA).kind === "website" ? "snsapi_login" : "snsapi_userinfo"),
      redirectUri,
      state: options?.state
    }))
  return {
    url: server.url,
    sandbox,
    dispose: () => runtime.dispose(),
    approve,
    code: async (options) => new URL(await approve(options)).searchParams.get("code")!,
    stats: () => runtime.runPromise(sandbox.stats),
    run: (effect) => runtime.runPromise(effect as Effect.Effect<any, any, never>)
  }
}

/** Calls a callback-style function and resolves with its `(err, result)` pair. */
export const callback = <A>(call: (cb: (err: any, result?: A) => void) => unknown): Promise<[any, A | undefined]> =>
  new Promise((resolve) => {
    call((err, result) => resolve([err, result]))
  })

/** Sets environment variables for the duration of `f`. */
export const withEnv = async <A>(env: Record<string, string | undefined>, f: () => Promise<A> | A): Promise<A> => {
  const saved = Object.fromEntries(Object.keys(env).map((key) => [key, process.env[key]]))
  const set = (values: Record<string, string | undefined>) => {
    for (const [key, value] of Object.entries(values)) {
      if (value === undefined) delete process.env[key]
      else process.env[key] = value
    }
  }
  set(env)
  try {
    return await f()
  } finally {
    set(saved)
  }
}

/** A request a hostile server saw: its path and query as sent. */
export interface SeenRequest {
  readonly path: string
  readonly query: URLSearchParams
  /** The request line's target, percent-encoded as sent. */
  readonly target: string
}

/**
 * A local HTTP server standing in for a broken or hostile WeChat: `answer` gives the status and
 * body of each request (JSON content type).
 */
export const startHostileServer = async (
  answer: (request: SeenRequest) => { readonly status?: number; readonly body: string }
): Promise<{ readonly url: string; readonly close: () => Promise<void> }> => {
  const server = Http.createServer((req, res) => {
    const target = req.url ?? "/"
    const url = new URL(target, "http://localhost")
    const { body, status } = answer({ path: url.pathname, query: url.searchParams, target })
    res.writeHead(status ?? 200, { "content-type": "application/json" })
    res.end(body)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as { readonly port: number }
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}

/** What the default logger prints meanwhile (it writes through `console.log`). */
export const capturingLogs = async <A>(f: () => Promise<A>): Promise<[A, Array<string>]> => {
  const lines: Array<string> = []
  const original = console.log
  console.log = (...args: Array<unknown>) => void lines.push(args.map(String).join(" "))
  try {
    return [await f(), lines]
  } finally {
    console.log = original
  }
}
