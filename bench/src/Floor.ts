/**
 * The floor: the least CPU any client of undici can spend on the bench's `GET /sns/userinfo`. The
 * request goes through `Pool.dispatch` with a handler that only collects the body (no Promise per
 * request inside undici, no stream, no response object, no header object: the handler callbacks
 * undici 7 itself drives, as core's lean `WeChatHttpClient` uses), then `JSON.parse` and the same
 * openid check as the raw client. No deadline, no size cap, no errcode, no typed error: nothing a
 * library must do, so no library can go below it.
 *
 * Two ways to wait for it, as wxauth is run:
 * - `promise`: a Promise per call, the workers awaiting it (the raw client's way);
 * - `fibers`: `Effect.async` per call, from fibers that exist anyway (`Wxauth.driverOf`'s
 *   `fibers`): the least an Effect library pays to suspend a fiber on a request and resume it.
 *
 * Measured against wechat-oauth, it shows what the targets set against wechat-oauth leave for
 * everything a library does on top of the request.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { type Dispatcher, Pool } from "undici"
import type { Subject } from "./Harness.js"
import { floorRowNames } from "./Report.js"
import type { Grant } from "./SandboxProcess.js"
import * as Wxauth from "./Wxauth.js"

export type Waiter = "promise" | "fibers"

type Done = (error: Error | undefined, user: { readonly openid?: string } | undefined) => void

/** Collects the body; calls `done` once. */
class Collect implements Dispatcher.DispatchHandler {
  chunks: Array<Buffer> = []
  status = 0
  constructor(readonly done: Done) {}
  onConnect(): void {}
  onHeaders(statusCode: number): boolean {
    this.status = statusCode
    return true
  }
  onData(chunk: Buffer): boolean {
    this.chunks.push(chunk)
    return true
  }
  onComplete(): void {
    const body = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks)
    let user: { readonly openid?: string }
    try {
      user = JSON.parse(body.toString("utf8"))
    } catch (error) {
      return this.done(error as Error, undefined)
    }
    this.done(this.status === 200 ? undefined : new Error(`floor userinfo failed: HTTP ${this.status}`), user)
  }
  onError(error: Error): void {
    this.done(error, undefined)
  }
}

export const make = (url: string, grant: Grant, waiter: Waiter): Subject => {
  const pool = new Pool(url, { connections: 128 })
  const path = `/sns/userinfo?access_token=${encodeURIComponent(grant.accessToken)}&openid=${
    encodeURIComponent(grant.openid)
  }&lang=zh_CN`
  const options: Dispatcher.DispatchOptions = { method: "GET", path }
  const checked = (user: { readonly openid?: string } | undefined): Error | undefined =>
    user?.openid === grant.openid ? undefined : new Error("floor userinfo: another user")
  if (waiter === "promise") {
    return {
      name: floorRowNames.promise,
      driver: {
        _tag: "Call",
        call: () =>
          new Promise((resolve, reject) => {
            pool.dispatch(
              options,
              new Collect((error, user) => {
                const failure = error ?? checked(user)
                if (failure === undefined) resolve(user)
                else reject(failure)
              })
            )
          })
      },
      close: () => pool.close()
    }
  }
  const runtime = ManagedRuntime.make(Layer.empty)
  const call = Effect.async<unknown, Error>((resume) => {
    pool.dispatch(
      options,
      new Collect((error, user) => {
        const failure = error ?? checked(user)
        resume(failure === undefined ? Effect.succeed(user) : Effect.fail(failure))
      })
    )
  })
  return {
    name: floorRowNames.fibers,
    driver: Wxauth.driverOf(runtime, "fibers", () => call),
    close: () => pool.close().then(() => runtime.dispose())
  }
}
