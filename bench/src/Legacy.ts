/**
 * `wechat-oauth` 1.5.0 (node-webot), the library wxauth replaces, with its in-memory token store.
 * It hard-codes `https://api.weixin.qq.com`: its `request` method is overridden to send the same
 * request to the sandbox. Its `getUser` defaults to `lang: "en"`: the bench passes `zh_CN`, as the
 * others send. It makes its requests with urllib 2, whose default agent does not keep connections
 * alive; `keepAlive: true` gives it a keep-alive `http.Agent` through its own `setOpts`.
 *
 * With `redis`, its tokens live in Redis instead of its in-memory store, through the `getToken` /
 * `saveToken` hooks its constructor takes (what its README tells production apps to do): one `GET`
 * per `getUser` and one `SET` per saved token, the token as the JSON of what it would have kept in
 * memory, on its own ioredis connection.
 */
import { Redis } from "ioredis"
import * as Http from "node:http"
import { createRequire } from "node:module"
import type { Subject } from "./Harness.js"
import { app } from "./SandboxProcess.js"

/** The parts of wechat-oauth's `OAuth` the bench uses (the package has no types). */
export interface LegacyOAuth {
  store: Record<string, { access_token: string; refresh_token: string; create_at: number; expires_in: number }>
  setOpts(options: Record<string, unknown>): void
  request(url: string, options: unknown, callback: (...args: Array<any>) => void): void
  getAccessToken(code: string, callback: (error: Error | null, result: { data: { openid: string } }) => void): void
  getUser(options: { openid: string; lang?: string }, callback: (error: Error | null, user: any) => void): void
}

type TokenCallback = (error: Error | null, token?: unknown) => void

type LegacyOAuthConstructor = new(
  appId: string,
  appSecret: string,
  getToken?: (openid: string, callback: TokenCallback) => void,
  saveToken?: (openid: string, token: unknown, callback: (error: Error | null) => void) => void
) => LegacyOAuth

/** Where wechat-oauth keeps its tokens when not in memory: a Redis key per openid. */
export interface RedisOptions {
  readonly url: string
  readonly keyPrefix: string
}

const OAuth = createRequire(import.meta.url)("wechat-oauth") as LegacyOAuthConstructor

const wechatApi = "https://api.weixin.qq.com"

/** A client pointed at the sandbox, its tokens in memory or, with `redis`, in Redis. */
export const makeClient = (
  sandboxUrl: string,
  options: { readonly keepAlive: boolean; readonly redis?: RedisOptions | undefined }
) => {
  const redis = options.redis === undefined
    ? undefined
    : new Redis(options.redis.url, { keyPrefix: `${options.redis.keyPrefix}wechat-oauth:`, maxRetriesPerRequest: 1 })
  const oauth = redis === undefined
    ? new OAuth(app.appId, app.secret)
    : new OAuth(
      app.appId,
      app.secret,
      (openid, callback) => {
        redis.get(openid).then(
          (text) => callback(null, text === null ? undefined : JSON.parse(text)),
          (error: Error) => callback(error)
        )
      },
      (openid, token, callback) => {
        redis.set(openid, JSON.stringify(token)).then(() => callback(null), (error: Error) => callback(error))
      }
    )
  // an idle socket is let go after 4 s, before the server's keep-alive timeout (5 s): between rounds,
  // a socket the server is closing at that very moment would fail the next call (seen once: "socket
  // hang up" on a socket reused after a minute idle); the warm-up opens new ones. Not much less than
  // 4 s: undici keeps its idle sockets about as long, and with 1 s wechat-oauth reconnected all its
  // sockets after every slice of the other client in a paired run (every other slice of its cost
  // 100 µs per call higher)
  const agent = options.keepAlive ? new Http.Agent({ keepAlive: true, maxSockets: 128, timeout: 4_000 }) : undefined
  if (agent !== undefined) oauth.setOpts({ agent })
  const request = oauth.request
  oauth.request = function(url, opts, callback) {
    request.call(this, url.startsWith(wechatApi) ? sandboxUrl + url.slice(wechatApi.length) : url, opts, callback)
  }
  return {
    oauth,
    close: () => {
      agent?.destroy()
      redis?.disconnect()
    }
  }
}

/** Exchanges a code through the library (which stores the token); resolves the openid. */
export const exchange = (oauth: LegacyOAuth, code: string): Promise<string> =>
  new Promise((resolve, reject) =>
    oauth.getAccessToken(code, (error, result) => error ? reject(error) : resolve(result.data.openid))
  )

/** `getUser` as a promise. */
export const getUser = (oauth: LegacyOAuth, openid: string): Promise<{ openid: string }> =>
  new Promise((resolve, reject) =>
    oauth.getUser({ openid, lang: "zh_CN" }, (error, user) => error ? reject(error) : resolve(user))
  )

export const make = async (
  sandboxUrl: string,
  callbackUrl: string,
  options: { readonly keepAlive: boolean; readonly redis?: RedisOptions | undefined }
): Promise<Subject> => {
  const { close, oauth } = makeClient(sandboxUrl, options)
  const openid = await exchange(oauth, new URL(callbackUrl).searchParams.get("code")!)
  return {
    name: options.redis !== undefined
      ? "wechat-oauth 1.5.0 + Redis getToken/saveToken (keep-alive agent)"
      : options.keepAlive
      ? "wechat-oauth 1.5.0 (keep-alive agent)"
      : "wechat-oauth 1.5.0 (as shipped, no keep-alive)",
    driver: {
      _tag: "Call",
      call: async () => {
        const user = await getUser(oauth, openid)
        if (user.openid !== openid) throw new Error("wechat-oauth getUser: another user")
        return user
      }
    },
    close: async () => close()
  }
}
