/**
 * The sandbox server as a child process, and its HTTP controls (`/__sandbox/...`): consent
 * (`approve`), the clock, the call counters, and a plain code exchange for the clients that do not
 * exchange codes themselves; over IPC, phone-number codes in bulk (`phoneCodes`).
 */
import { Sandbox } from "@wxauth/sandbox"
import { type ChildProcess, fork } from "node:child_process"
import { fileURLToPath } from "node:url"
import { request } from "undici"

/** Messages from the server process. */
export type FromServer =
  | { readonly type: "ready"; readonly url: string }
  | { readonly type: "cpu"; readonly id: number; readonly usage: NodeJS.CpuUsage }
  | { readonly type: "phoneCodes"; readonly id: number; readonly codes: ReadonlyArray<string> }
  | { readonly type: "failed"; readonly id: number; readonly message: string }

/** Messages to the server process. */
export type ToServer =
  | { readonly type: "cpu"; readonly id: number }
  | {
    readonly type: "phoneCodes"
    readonly id: number
    readonly appId: string
    readonly user: string
    readonly count: number
  }
  | { readonly type: "stop" }

/** The app every client logs in to, and the user. */
export const app = Sandbox.defaultApps.officialAccount
export const user = "alice"

/** The mini program of the getPhoneNumber runs, and the phone number the sandbox gives `user`. */
export const miniProgram = Sandbox.defaultApps.miniProgram
export const userPhoneNumber = Sandbox.defaultUsers.find((u) => u.id === user)!.phoneNumber!
export const redirectUri = "https://bench.example/wechat/callback"
export const state = "bench"

/** Sandbox call counters, by endpoint. */
export type Stats = Record<Sandbox.Endpoint, number>

/** What the client of a freshly approved consent holds. */
export interface Grant {
  readonly accessToken: string
  readonly refreshToken: string
  readonly openid: string
}

export interface SandboxProcess {
  readonly url: string
  readonly pid: number
  /** The server process's own `process.cpuUsage()`. */
  readonly cpuUsage: () => Promise<NodeJS.CpuUsage>
  /**
   * `count` phone-number codes of `user` for the mini program, as the `getPhoneNumber` button gives
   * them (single-use, 5 minutes), minted in the server process by the sandbox's own
   * `phoneNumberCode` (one IPC message, not `count` control requests).
   */
  readonly phoneCodes: (count: number) => Promise<ReadonlyArray<string>>
  /** A consent by `alice` (snsapi_userinfo): the callback URL, with a fresh code. */
  readonly approve: () => Promise<string>
  /** A consent and its code exchanged by a plain GET: a token of its own. */
  readonly grant: () => Promise<Grant>
  /** Moves the sandbox's clock forward. */
  readonly advanceClock: (seconds: number) => Promise<void>
  /** The sandbox's clock minus this process's: what a client must add to stay in step. */
  readonly clockOffsetMillis: () => Promise<number>
  readonly stats: () => Promise<Stats>
  readonly resetStats: () => Promise<void>
  readonly stop: () => Promise<void>
}

const serverEntry = fileURLToPath(new URL("./sandboxServer.js", import.meta.url))

const json = async (url: string, method: "GET" | "POST" = "GET", body?: unknown): Promise<any> => {
  const response = await request(url, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { "content-type": "application/json" } })
  })
  const text = await response.body.text()
  if (response.statusCode !== 200) {
    throw new Error(`${method} ${new URL(url).pathname}: HTTP ${response.statusCode} ${text.slice(0, 200)}`)
  }
  return JSON.parse(text)
}

/** Starts the sandbox server in a child process on 127.0.0.1 and a free port. */
export const start = (): Promise<SandboxProcess> =>
  new Promise((resolve, reject) => {
    const child: ChildProcess = fork(serverEntry, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] })
    const pending = new Map<number, (message: FromServer) => void>()
    let nextId = 0
    const ask = <A>(message: (id: number) => ToServer, answer: (message: FromServer) => A) =>
      new Promise<A>((resolveAnswer, rejectAnswer) => {
        const id = nextId++
        pending.set(id, (reply) => {
          if (reply.type === "failed") rejectAnswer(new Error(`the sandbox server: ${reply.message}`))
          else resolveAnswer(answer(reply))
        })
        child.send(message(id))
      })
    const onExit = (code: number | null) => reject(new Error(`the sandbox server exited (${code})`))
    child.once("exit", onExit)
    child.on("message", (message: FromServer) => {
      if (message.type !== "ready") {
        pending.get(message.id)?.(message)
        pending.delete(message.id)
        return
      }
      child.off("exit", onExit)
      const url = message.url
      const control = (path: string) => `${url}/__sandbox/${path}`
      const approve = async () =>
        (await json(control("approve"), "POST", {
          appId: app.appId,
          user,
          scope: "snsapi_userinfo",
          redirectUri,
          state
        }))
          .url as string
      resolve({
        url,
        pid: child.pid!,
        cpuUsage: () =>
          ask((id) => ({ type: "cpu", id }), (reply) => (reply as Extract<FromServer, { type: "cpu" }>).usage),
        phoneCodes: (count) =>
          ask(
            (id) => ({ type: "phoneCodes", id, appId: miniProgram.appId, user, count }),
            (reply) => (reply as Extract<FromServer, { type: "phoneCodes" }>).codes
          ),
        approve,
        grant: async () => {
          const code = new URL(await approve()).searchParams.get("code")!
          const query = new URLSearchParams({
            appid: app.appId,
            secret: app.secret,
            code,
            grant_type: "authorization_code"
          })
          const body = await json(`${url}/sns/oauth2/access_token?${query}`)
          if (typeof body.access_token !== "string") throw new Error(`code exchange failed: errcode ${body.errcode}`)
          return { accessToken: body.access_token, refreshToken: body.refresh_token, openid: body.openid }
        },
        advanceClock: async (seconds) => {
          await json(control("clock/advance"), "POST", { seconds })
        },
        clockOffsetMillis: async () => {
          const before = Date.now()
          const { now } = await json(control("clock"))
          return Math.round(now - (before + Date.now()) / 2)
        },
        stats: () => json(control("stats")),
        resetStats: async () => {
          await json(control("stats/reset"), "POST")
        },
        stop: () =>
          new Promise<void>((resolveStop) => {
            if (child.exitCode !== null) return resolveStop()
            const timer = setTimeout(() => child.kill("SIGKILL"), 5_000)
            child.once("exit", () => {
              clearTimeout(timer)
              resolveStop()
            })
            child.send({ type: "stop" } satisfies ToServer)
          })
      })
    })
  })
