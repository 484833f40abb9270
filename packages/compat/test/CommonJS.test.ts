/**
 * `require("@wxauth/compat")` from CommonJS, as the seeds' code does it, in a separate Node process
 * against the built package (dist) and the sandbox over HTTP.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { buildProject } from "@wxauth/test-support"
import * as ChildProcess from "node:child_process"
import { fileURLToPath } from "node:url"
import { OA, type RunningSandbox, startSandbox } from "./helpers.js"

const root = fileURLToPath(new URL("../../..", import.meta.url))
let sandbox: RunningSandbox

beforeAll(async () => {
  // `npm test` builds before vitest runs; a lone `vitest run` may not have
  await buildProject("packages/compat/tsconfig.src.json", { cwd: root })
  sandbox = await startSandbox()
}, 180_000)

afterAll(async () => {
  await sandbox?.dispose()
})

/** Runs a CommonJS script with `node -e` from the repository's root; it must exit on its own. */
const runCommonJs = (script: string, env: Record<string, string> = {}) =>
  new Promise<{ status: number | null; signal: string | null; stdout: string; stderr: string; millis: number }>(
    (resolve) => {
      const started = Date.now()
      ChildProcess.execFile(
        process.execPath,
        ["-e", script],
        { cwd: root, env: { ...process.env, ...env }, timeout: 20_000 },
        (error, stdout, stderr) =>
          resolve({
            status: error ? (typeof error.code === "number" ? error.code : null) : 0,
            signal: error?.signal ?? null,
            stdout,
            stderr,
            millis: Date.now() - started
          })
      )
    }
  )

describe("CommonJS", () => {
  it("require('@wxauth/compat') is the OAuth class, with every other export on it", async () => {
    const result = await runCommonJs(`
      const OAuth = require("@wxauth/compat")
      const { OAuth: Named, getAuthUrl, getToken, refreshToken, getUserinfo, checkAccessToken, AccessToken } =
        require("@wxauth/compat")
      const client = new OAuth("wx1234567890abcdef", "secret")
      console.log(JSON.stringify({
        isClass: typeof OAuth === "function" && client instanceof OAuth,
        same: Named === OAuth && OAuth.default === OAuth,
        functions: [getAuthUrl, getToken, refreshToken, getUserinfo, checkAccessToken].map((f) => typeof f),
        accessToken: typeof AccessToken,
        url: client.getAuthorizeURL("https://a.example/cb", "s", "snsapi_userinfo")
      }))
    `)
    assert.strictEqual(result.status, 0, result.stderr)
    assert.notInclude(result.stderr, "Warning")
    const out = JSON.parse(result.stdout)
    assert.isTrue(out.isClass)
    assert.isTrue(out.same)
    assert.deepStrictEqual(out.functions, ["function", "function", "function", "function", "function"])
    assert.strictEqual(out.accessToken, "function")
    assert.strictEqual(
      out.url,
      "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wx1234567890abcdef&redirect_uri=" +
        "https%3A%2F%2Fa.example%2Fcb&response_type=code&scope=snsapi_userinfo&state=s#wechat_redirect"
    )
  })

  it("a CommonJS app logs a user in against the sandbox (callbacks and promises), then exits", async () => {
    const code = await sandbox.code({ user: "bob" })
    const result = await runCommonJs(
      `
      var OAuth = require("@wxauth/compat")
      var client = new OAuth(process.env.APPID, process.env.SECRET)
      client.getAccessToken(process.env.CODE, function (err, result) {
        if (err) { console.error(err); process.exit(2) }
        client.getUser(result.data.openid).then(function (user) {
          return client.getUser({ openid: user.openid, lang: "zh_CN" }).then(function (zh) {
            console.log(JSON.stringify({ nickname: user.nickname, city: zh.city, valid: result.isValid() }))
          })
        }, function (err) { console.error(err); process.exit(3) })
      })
    `,
      { APPID: OA.appId, SECRET: OA.secret, CODE: code, WECHAT_API_BASE_URL: sandbox.url }
    )
    assert.strictEqual(result.status, 0, result.stderr)
    assert.isNull(result.signal, "the process did not exit on its own")
    assert.deepStrictEqual(JSON.parse(result.stdout), { nickname: "李四", city: "海淀", valid: true })
  })

  it("errors keep their names across require()", async () => {
    const result = await runCommonJs(
      `
      const { getToken } = require("@wxauth/compat")
      getToken(process.env.APPID, "not-a-code", process.env.SECRET).catch((err) => {
        console.log(JSON.stringify({ name: err.name, code: err.code, isError: err instanceof Error }))
      })
    `,
      { APPID: OA.appId, SECRET: OA.secret, WECHAT_API_BASE_URL: sandbox.url }
    )
    assert.strictEqual(result.status, 0, result.stderr)
    assert.deepStrictEqual(JSON.parse(result.stdout), { name: "WeChatAPIError", code: 40029, isError: true })
  })
})
