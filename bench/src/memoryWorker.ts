/**
 * Heap bytes per stored token, in a fresh process started with `--expose-gc` (forked by
 * `Memory.measure`). Tokens are made as in production: a WeChat token answer (JSON text) parsed and
 * decoded, then turned into what each library keeps. `heapUsed` after full GCs, before and after,
 * divided by the number of tokens. One process per measurement (the registry behind `Redacted`, a
 * `WeakMap`, keeps the capacity it grew to); each fill runs once on a few tokens first, so that
 * one-time allocations (lazily built decoders, inline caches) are not counted.
 */
import { OAuthToken, TokenStore, WeChatApi } from "@wxauth/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as Crypto from "node:crypto"
import { createRequire } from "node:module"
import type { MemoryKind } from "./Memory.js"
import { app } from "./SandboxProcess.js"

const kind = process.argv[2] as MemoryKind
const count = Number(process.argv[3] ?? "100000")
const gc = (globalThis as { gc?: () => void }).gc!

const heapUsed = () => {
  for (let i = 0; i < 4; i++) gc()
  return process.memoryUsage().heapUsed
}

const random = (length: number) => Crypto.randomBytes(length).toString("base64url").slice(0, length)

/** A WeChat `/sns/oauth2/access_token` answer: tokens as long as WeChat's (89 characters). */
const answer = (i: number) =>
  JSON.stringify({
    access_token: `88_${random(86)}`,
    expires_in: 7200,
    refresh_token: `88_${random(86)}`,
    openid: `o${String(i).padStart(8, "0")}${random(19)}`,
    scope: "snsapi_userinfo",
    unionid: `o${random(27)}`
  })

const decodeAnswer = Schema.decodeUnknownSync(WeChatApi.TokenResponse)

/** As core's `WeChatOAuth` makes a token from an answer. */
const toToken = (text: string, now: number) =>
  Either.getOrThrow(OAuthToken.fromResponse(decodeAnswer(JSON.parse(text)), now))

const perToken = (fill: (count: number) => unknown) => {
  fill(2_000)
  const before = heapUsed()
  const kept = fill(count)
  const after = heapUsed()
  const bytes = (after - before) / count
  if (kept === undefined) throw new Error("nothing kept")
  return Math.round(bytes)
}

const LegacyOAuth = createRequire(import.meta.url)("wechat-oauth") as new(appId: string, secret: string) => {
  saveToken(openid: string, token: unknown, callback: (error: Error | null) => void): void
  store: Record<string, unknown>
}

const now = Date.now()

const fills: Record<MemoryKind, (count: number) => unknown> = {
  wxauthStore: (count) => {
    const store = Effect.runSync(TokenStore.makeMemory())
    for (let i = 0; i < count; i++) Effect.runSync(store.set(app.appId, toToken(answer(i), now)))
    return store
  },
  legacyStore: (count) => {
    const oauth = new LegacyOAuth(app.appId, app.secret)
    for (let i = 0; i < count; i++) {
      // as wechat-oauth's processToken + default saveToken
      const data = JSON.parse(answer(i))
      data.create_at = Date.now()
      oauth.saveToken(data.openid, data, () => undefined)
    }
    return oauth.store
  }
}

process.send!(perToken(fills[kind]))
