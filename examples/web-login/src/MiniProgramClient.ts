/**
 * A simulated mini program, to try the phone-number login without a phone (demo mode, or live mode
 * against a wxauth sandbox): a page whose script does what a mini program's JavaScript does in
 * WeChat, and the two things only WeChat's client can give it, played by the sandbox's `/__sandbox/`
 * controls over HTTP:
 *
 * - `wx.login()`'s code (`/__sandbox/miniprogram/login`): posted to `@wxauth/http`'s
 *   `POST /api/wechat/mini-program/<app>/login`, which exchanges it (`code2Session`) and answers a
 *   session token;
 * - the code of the `getPhoneNumber` button (`<button open-type="getPhoneNumber">`, after the user
 *   agrees; `/__sandbox/miniprogram/phonecode`): posted with that token to
 *   `POST /api/wechat/mini-program/<app>/phone-number`, which asks WeChat for the phone number
 *   (`getPhoneNumber`, with the app access token).
 *
 * Both codes are single-use and live 5 minutes. The page never shows them, nor the token.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

/** A test user of the sandbox, as the page offers them. */
export class SandboxUser extends Schema.Class<SandboxUser>("SandboxUser")({
  id: Schema.String,
  nickname: Schema.String
}) {}

const SandboxConfig = Schema.Struct({ users: Schema.Array(SandboxUser) })

const CodeAnswer = Schema.Struct({ code: Schema.String })

/** The sandbox did not give what was asked: it is unreachable, or refused (`refused`: an unknown user, say). */
export class SandboxUnavailable extends Data.TaggedError("SandboxUnavailable")<{
  readonly refused: boolean
}> {}

const timeout = Duration.seconds(3)

/** A test user id as the sandbox names them: what the page may ask a code for. */
export const UserId = Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9_-]{1,64}$/))

/** What the page posts for a code: the test user the phone is logged in with. */
export const UserBody = Schema.Struct({ user: UserId })

/** The sandbox's test users (the WeChat accounts the simulated phone can be logged in with). */
export const users = (sandboxUrl: string): Effect.Effect<ReadonlyArray<SandboxUser>, never, HttpClient.HttpClient> =>
  HttpClient.get(`${sandboxUrl}/__sandbox/config`).pipe(
    Effect.flatMap(HttpClientResponse.filterStatusOk),
    Effect.flatMap(HttpClientResponse.schemaBodyJson(SandboxConfig)),
    Effect.timeout(timeout),
    Effect.map((config) => config.users),
    Effect.orElseSucceed((): ReadonlyArray<SandboxUser> => [])
  )

const mint = (
  sandboxUrl: string,
  control: string,
  body: { readonly appId: string; readonly user: string }
): Effect.Effect<string, SandboxUnavailable, HttpClient.HttpClient> =>
  HttpClient.execute(
    HttpClientRequest.post(`${sandboxUrl}/__sandbox/${control}`).pipe(HttpClientRequest.bodyUnsafeJson(body))
  ).pipe(
    Effect.flatMap((response) =>
      response.status === 400
        ? Effect.succeed(undefined)
        : Effect.flatMap(HttpClientResponse.filterStatusOk(response), HttpClientResponse.schemaBodyJson(CodeAnswer))
    ),
    Effect.timeout(timeout),
    Effect.mapError(() => new SandboxUnavailable({ refused: false })),
    Effect.flatMap((answer) =>
      answer === undefined ? Effect.fail(new SandboxUnavailable({ refused: true })) : Effect.succeed(answer.code)
    )
  )

/** `wx.login()`: a login code of `user` for the mini program. */
export const loginCode = (
  sandboxUrl: string,
  appId: string,
  user: string
): Effect.Effect<string, SandboxUnavailable, HttpClient.HttpClient> =>
  mint(sandboxUrl, "miniprogram/login", { appId, user })

/** The `getPhoneNumber` button, pressed and agreed to: a phone-number code of `user` for the mini program. */
export const phoneCode = (
  sandboxUrl: string,
  appId: string,
  user: string
): Effect.Effect<string, SandboxUnavailable, HttpClient.HttpClient> =>
  mint(sandboxUrl, "miniprogram/phonecode", { appId, user })

/**
 * The page's script (`/mini-program/client.js`, the only script this site serves). It does what the
 * mini program's JavaScript would: on the button, `wx.login()` (here from `/mini-program/wx/*`,
 * WeChat's side), the login (`POST` of its code to the endpoint in the page's `data-login`: a
 * session token, kept in memory as a mini program keeps it in storage), then the button's phone
 * code, posted with `Authorization: Bearer <token>` to `data-phone-number`, as `wx.request` would
 * (no cookies). It shows the answers with `textContent` only; the codes and the token never.
 */
export const script = `// wxauth example: a simulated mini program (see src/MiniProgramClient.ts)
const byId = (id) => document.getElementById(id)
const endpoints = byId("mini-program").dataset

const postJson = async (path, body, token) => {
  const headers = { "content-type": "application/json" }
  if (token !== undefined) headers.authorization = "Bearer " + token
  const response = await fetch(path, { method: "POST", headers, body: JSON.stringify(body), credentials: "omit" })
  const data = await response.json().catch(() => ({}))
  return { ok: response.ok, status: response.status, data }
}

// what WeChat's client gives a mini program; in this simulation, the sandbox's controls
const wx = {
  login: (user) => postJson("/mini-program/wx/login", { user }),
  getPhoneNumber: (user) => postJson("/mini-program/wx/phone-code", { user })
}

const step = (text, state) => {
  const item = document.createElement("li")
  item.textContent = text
  item.dataset.state = state
  byId("mini-steps").append(item)
}

const failed = (what, answer) => {
  const reason = answer.data.error ?? "HTTP " + answer.status
  step(what + " ✗ " + (answer.data.title ?? "") + " · " + (answer.data.titleEn ?? reason), "failed")
  const error = byId("mini-error")
  error.textContent = (answer.data.title ?? "出错了") + " · " + (answer.data.titleEn ?? "Something went wrong")
  error.dataset.reason = reason
  error.hidden = false
}

const run = async () => {
  const button = byId("phone-login")
  button.disabled = true
  byId("mini-steps").replaceChildren()
  byId("mini-result").hidden = true
  byId("mini-error").hidden = true
  try {
    const user = document.querySelector("input[name=user]:checked")?.value
    const code = await wx.login(user)
    if (!code.ok) return failed("wx.login()", code)
    step("wx.login() → 登录 code (single-use, 5 min; not shown)", "done")
    const login = await postJson(endpoints.login, { code: code.data.code })
    if (!login.ok) return failed("POST " + endpoints.login, login)
    step("POST " + endpoints.login + " → code2Session on the server: a session token (not shown)", "done")
    const phoneCode = await wx.getPhoneNumber(user)
    if (!phoneCode.ok) return failed("getPhoneNumber", phoneCode)
    step("getPhoneNumber 按钮 → 手机号 code (single-use, 5 min; not shown)", "done")
    const phone = await postJson(endpoints.phoneNumber, { code: phoneCode.data.code }, login.data.token)
    if (!phone.ok) return failed("POST " + endpoints.phoneNumber, phone)
    step("POST " + endpoints.phoneNumber + " (Bearer token) → getPhoneNumber on the server", "done")
    byId("mini-openid").textContent = login.data.openid
    byId("mini-unionid").textContent = login.data.unionid ?? "— (not bound to an Open Platform account)"
    byId("mini-user-id").textContent = login.data.userId ?? "—"
    byId("mini-phone").textContent = phone.data.phoneNumber
    byId("mini-country").textContent = "+" + phone.data.countryCode
    byId("mini-result").hidden = false
  } catch (error) {
    failed("network", { status: 0, data: {} })
  } finally {
    button.disabled = false
  }
}

byId("phone-login").addEventListener("click", () => void run())
byId("phone-login").disabled = false
`
