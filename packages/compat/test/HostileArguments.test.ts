/**
 * Every public function of the compat API (class, functional API, conversions, errors), through the
 * ES module entry and through `require("@wxauth/compat")`, with hostile arguments against the
 * sandbox over HTTP, `wechat-oauth` 1.5.0 deciding where a throw is allowed (see `hostile.ts`).
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Compat from "@wxauth/compat"
import { buildProject } from "@wxauth/test-support"
import { createRequire } from "node:module"
import { fileURLToPath } from "node:url"
import { fromCause, fromCoreError, fromDefect } from "../src/CompatError.js"
import { MINI, OA, redirectUri, type RunningSandbox, startSandbox } from "./helpers.js"
import * as Hostile from "./hostile.js"

const root = fileURLToPath(new URL("../../..", import.meta.url))
let sandbox: RunningSandbox
let savedEnv: string | undefined
let baseline: Hostile.Baseline
const unhandled: Array<string> = []
const onUnhandledRejection = (reason: unknown) => unhandled.push(`unhandled rejection: ${String(reason)}`)
const onUncaughtException = (error: unknown) => unhandled.push(`uncaught exception: ${String(error)}`)

beforeAll(async () => {
  // the CommonJS entry is the built package (dist); `npm test` builds first, a lone `vitest run` may not
  await buildProject("packages/compat/tsconfig.src.json", { cwd: root })
  sandbox = await startSandbox()
  savedEnv = process.env.WECHAT_API_BASE_URL
  process.env.WECHAT_API_BASE_URL = sandbox.url
  // a real user's token and a mini program's session, as a client holds them
  const token = await Compat.getToken(OA.appId, await sandbox.code(), OA.secret)
  const mini = new Compat.OAuth(MINI.appId, MINI.secret, null, null, true)
  const jsCode = await sandbox.run(sandbox.sandbox.miniProgramLogin({ appId: MINI.appId, user: "alice" }))
  const session = await mini.getSessionKey(jsCode)
  const encrypted = await sandbox.run(sandbox.sandbox.encryptUserData({ appId: MINI.appId, user: "alice" }))
  await mini.close()
  baseline = {
    oa: OA,
    mini: MINI,
    redirectUri,
    code: "0a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P",
    openid: token.openid,
    accessToken: token.access_token,
    refreshToken: token.refresh_token,
    sessionKey: session.data.session_key,
    encryptedData: encrypted.encryptedData,
    iv: encrypted.iv
  }
  process.on("unhandledRejection", onUnhandledRejection)
  process.on("uncaughtException", onUncaughtException)
}, 180_000)

afterAll(async () => {
  process.off("unhandledRejection", onUnhandledRejection)
  process.off("uncaughtException", onUncaughtException)
  if (savedEnv === undefined) delete process.env.WECHAT_API_BASE_URL
  else process.env.WECHAT_API_BASE_URL = savedEnv
  await sandbox?.dispose()
})

describe("the harness", () => {
  it("sees a secret anywhere in an error: a cause's field, its message getter, JSON", () => {
    class Tagged extends Error {
      readonly _tag = "Tagged"
      override get message() {
        return "echo: token=SECRET_in_a_getter"
      }
    }
    const deep = new Compat.CompatError({
      name: "WeChatAPIError",
      tag: "InvalidCode",
      message: "clean",
      cause: { detail: { query: "secret=SECRET_in_a_field" } }
    })
    const viaGetter = new Compat.CompatError({
      name: "WeChatAPIError",
      tag: "X",
      message: "clean",
      cause: new Tagged()
    })
    assert.isTrue(Hostile.textsOf(deep).some((text) => text.includes("SECRET_in_a_field")))
    assert.isTrue(Hostile.textsOf(viaGetter).some((text) => text.includes("SECRET_in_a_getter")))
    assert.isFalse(Hostile.textsOf(deep).some((text) => text.includes("SECRET_in_a_getter")))
  })

  it("asks the real wechat-oauth 1.5.0, which throws on getUser(null) and not on getUser(undefined)", () => {
    const legacy = Hostile.legacyClient(OA.appId, OA.secret)
    assert.throws(() => legacy.getUser(null, () => {}), TypeError)
    assert.doesNotThrow(() => legacy.getUser(undefined, () => {}))
  })
})

describe("hostile arguments", () => {
  it(
    "no defect, no leak: compat throws only where wechat-oauth throws, and fails only with its own errors",
    async () => {
      const totals: Hostile.Totals = { calls: 0, defects: [], leaks: [] }
      const esm = { ...Compat, fromCoreError, fromCause, fromDefect }
      await Hostile.run("ESM", esm, baseline, totals)
      const esmCalls = totals.calls
      const commonJs = createRequire(import.meta.url)("@wxauth/compat") as Hostile.CompatModule
      assert.strictEqual(typeof commonJs, "function", "require('@wxauth/compat') is the OAuth class")
      await Hostile.run("CommonJS", commonJs, baseline, totals)
      // anything left unhandled shows within a few ticks
      await new Promise((resolve) => setTimeout(resolve, 500))
      console.log(
        `compat hostile-arguments: ${totals.calls} calls (${esmCalls} ESM, ${totals.calls - esmCalls} CommonJS), ` +
          `${totals.defects.length + unhandled.length} defects, ${totals.leaks.length} leaks`
      )
      // per function, for the failure message: which ones fail, and how often
      const byFunction = new Map<string, number>()
      for (const defect of totals.defects) {
        const key = defect.slice(0, defect.indexOf("("))
        byFunction.set(key, (byFunction.get(key) ?? 0) + 1)
      }
      assert.deepStrictEqual(
        totals.defects.slice(0, 30),
        [],
        `${totals.defects.length} defects: ${JSON.stringify(Object.fromEntries(byFunction))}`
      )
      assert.deepStrictEqual(unhandled, [])
      assert.deepStrictEqual(totals.leaks.slice(0, 30), [], `${totals.leaks.length} leaks`)
      assert.isAbove(esmCalls, 1000)
    },
    600_000
  )
})
