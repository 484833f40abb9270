/**
 * `getPhoneNumber` with a warm app token, side by side with a raw request: each call exchanges one
 * phone-number code of `alice` (single-use, so every call has its own, minted up front by
 * `SandboxProcess.phoneCodes` and handed to the subject with `load`) for her phone number.
 *
 * - raw: a bare undici keep-alive `Pool`, `POST /wxa/business/getuserphonenumber?access_token=` with
 *   a known app token (fetched once with a plain `POST /cgi-bin/stable_token`) and the JSON body
 *   `{code}`, `body.json()`, a check of errcode and number. The floor.
 * - wxauth: `MiniProgram.getPhoneNumber(code)` with `AppToken` (stable_token, `AppTokenStore` in
 *   memory; fetched before measuring, so warm: every call reads it from the store) and core's lean
 *   `WeChatHttpClient`, in a `ManagedRuntime`: one `runPromise` per call, or in fibers of one
 *   program (`concurrency` fibers, each making its calls one after another). It decodes `phone_info` with Schema and checks its
 *   watermark against the appid.
 */
import { AppToken, AppTokenStore, MiniProgram, WeChatConfig, WeChatHttpClient } from "@wxauth/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { Pool, request } from "undici"
import type { Subject } from "./Harness.js"
import { miniProgram, userPhoneNumber } from "./SandboxProcess.js"
import { driverOf, type Runner, runnerLabel } from "./Wxauth.js"

/** A subject whose calls each use up one code of `load`'s. */
export interface PhoneSubject extends Subject {
  /** The codes of the next calls (the harness's warm-up or measured run); the previous ones are dropped. */
  readonly load: (codes: ReadonlyArray<string>) => void
}

/** One code per call, in order; running out is the bench's bug, not a slow call. */
const codeQueue = () => {
  let codes: ReadonlyArray<string> = []
  let next = 0
  return {
    load: (fresh: ReadonlyArray<string>) => {
      codes = fresh
      next = 0
    },
    take: (): string => {
      if (next >= codes.length) throw new Error("bench: out of phone codes (load as many as calls)")
      return codes[next++]
    }
  }
}

const checked = <A extends { readonly purePhoneNumber: string }>(info: A): A => {
  if (info.purePhoneNumber !== userPhoneNumber) throw new Error("getPhoneNumber: another number")
  return info
}

/** The app token a raw client holds: one plain `stable_token` call. */
export const fetchAppToken = async (sandboxUrl: string): Promise<string> => {
  const response = await request(`${sandboxUrl}/cgi-bin/stable_token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ grant_type: "client_credential", appid: miniProgram.appId, secret: miniProgram.secret })
  })
  const body = (await response.body.json()) as { access_token?: string; errcode?: number }
  if (typeof body.access_token !== "string") throw new Error(`stable_token failed: errcode ${body.errcode}`)
  return body.access_token
}

/** The raw client. */
export const raw = (sandboxUrl: string, appToken: string): PhoneSubject => {
  const pool = new Pool(sandboxUrl, { connections: 128 })
  const path = `/wxa/business/getuserphonenumber?access_token=${encodeURIComponent(appToken)}`
  const queue = codeQueue()
  return {
    name: "raw undici Pool: getuserphonenumber",
    load: queue.load,
    driver: {
      _tag: "Call",
      call: async () => {
        const { body, statusCode } = await pool.request({
          method: "POST",
          path,
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ code: queue.take() })
        })
        const answer = (await body.json()) as {
          errcode?: number
          phone_info?: { purePhoneNumber?: string }
        }
        if (statusCode !== 200 || answer.errcode !== 0 || answer.phone_info?.purePhoneNumber !== userPhoneNumber) {
          throw new Error(`raw getuserphonenumber failed: HTTP ${statusCode}, errcode ${answer.errcode}`)
        }
        return answer
      }
    },
    close: () => pool.close()
  }
}

/** `MiniProgram` with its `AppToken` on a memory `AppTokenStore`, against the sandbox. */
export const layer = (sandboxUrl: string) => {
  const base = Layer.mergeAll(
    WeChatConfig.layer({ appId: miniProgram.appId, appSecret: miniProgram.secret, apiBaseUrl: sandboxUrl }),
    WeChatHttpClient.layer(),
    AppTokenStore.layerMemory
  )
  const appToken = AppToken.layer.pipe(Layer.provide(base))
  return MiniProgram.layer.pipe(Layer.provideMerge(appToken), Layer.provide(base))
}

/** wxauth's `MiniProgram.getPhoneNumber`, its app token fetched before the first call. */
export const wxauth = async (sandboxUrl: string, runner: Runner): Promise<PhoneSubject> => {
  const runtime = ManagedRuntime.make(layer(sandboxUrl))
  const { mini } = await runtime.runPromise(
    Effect.all({ mini: MiniProgram.MiniProgram, token: Effect.flatMap(AppToken.AppToken, (t) => t.get) })
  )
  const queue = codeQueue()
  return {
    name: `wxauth MiniProgram.getPhoneNumber${runnerLabel[runner]}`,
    load: queue.load,
    driver: driverOf(runtime, runner, () => Effect.map(mini.getPhoneNumber(queue.take()), checked)),
    close: () => runtime.dispose()
  }
}
