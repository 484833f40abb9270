/**
 * Red team: the sandbox's third-party platform given hostile input over a real socket: odd JSON
 * bodies and queries on the six component endpoints, odd methods, and hostile options to the
 * component controls (`/__sandbox/component/...`) and to the in-process service. The sandbox is a
 * test double, but it must never crash, answer 5xx for a caller's mistake (unless a fault says so),
 * or stop serving: every answer is WeChat's kind of errcode, or a 4xx of the controls.
 */
import { assert, describe, it } from "@effect/vitest"
import { MessageCrypto, Sandbox, SandboxServer } from "@wxauth/sandbox"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"

const PLATFORM = {
  componentAppId: "wxcomponent0000001",
  componentAppSecret: "0c79e1fa963cd80cc0be99b20a18faeb",
  token: "sandboxtoken",
  encodingAesKey: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
  pushInterval: false,
  authorizers: [
    { appId: "wxmanagedofficial1", kind: "officialAccount", bound: true },
    { appId: "wxmanagedminiprog1", kind: "miniProgram" }
  ]
} as const satisfies Sandbox.SandboxComponent

const ServerLive = Sandbox.layerServer({ port: 0, host: "127.0.0.1" }).pipe(
  Layer.provideMerge(Sandbox.layer({ components: [PLATFORM] }))
)

interface Answer {
  readonly status: number
  readonly text: string
}

const send = (url: string, init: RequestInit = {}): Effect.Effect<Answer | string> =>
  Effect.promise(() =>
    fetch(url, { ...init, signal: AbortSignal.timeout(10_000) }).then(
      async (response) => ({ status: response.status, text: await response.text() }),
      (error: unknown) => `no answer: ${String(error).slice(0, 80)}`
    )
  )

const hostileBodies: ReadonlyArray<string> = [
  "",
  "null",
  "[]",
  "{",
  "\"x\"",
  "1e400",
  "[".repeat(30_000) + "]".repeat(30_000),
  "{\"component_appid\":[\"wxcomponent0000001\"]}",
  "{\"component_appid\":{\"$ne\":null}}",
  "{\"component_appid\":\"__proto__\"}",
  "{\"component_appid\":\"constructor\",\"component_appsecret\":\"toString\"}",
  "{\"__proto__\":{\"component_appid\":\"wxcomponent0000001\"}}",
  "{\"component_appid\":\"wxcomponent0000001\",\"component_appsecret\":1e400,\"component_verify_ticket\":null}",
  "{\"component_appid\":\"wxcomponent0000001\",\"authorization_code\":\"hasOwnProperty\"}",
  "{\"component_appid\":\"wxcomponent0000001\",\"authorizer_appid\":\"__proto__\",\"authorizer_refresh_token\":\"x\"}",
  `{"component_appid":"wxcomponent0000001","authorization_code":"${"c".repeat(60_000)}"}`,
  "{\"component_appid\":\"\\ud800\"}",
  "{\"component_appid\":\"wxcomponent0000001\"}\u0000garbage",
  "component_appid=wxcomponent0000001&component_appsecret=x"
]

const hostileQueries: ReadonlyArray<string> = [
  "",
  "component_appid=__proto__&component_access_token=x&appid=toString&code=constructor",
  "component_appid=wxcomponent0000001&component_appid=wxcomponent0000002",
  "component_appid=%E0%A4%A&component_access_token=%FF",
  "appid=wxmanagedofficial1&code=" + "c".repeat(60_000) + "&component_appid=wxcomponent0000001",
  "appid=wxmanagedofficial1&js_code=a&grant_type=authorization_code&component_appid=wxcomponent0000001&component_access_token=hasOwnProperty",
  "appid=wxmanagedofficial1&grant_type=refresh_token&refresh_token=__proto__&component_appid=wxcomponent0000001&component_access_token=valueOf",
  "a[]=1&component_appid[]=x"
]

describe("red team: the sandbox's platform over a socket", () => {
  it.scoped(
    "hostile bodies, queries and methods on the six component endpoints: answers, never 5xx, still serving",
    () =>
      Effect.gen(function*() {
        const server = yield* SandboxServer.SandboxServer
        const problems: Array<string> = []
        let calls = 0
        const check = (label: string, answer: Answer | string, allowed: (a: Answer) => boolean) => {
          calls++
          if (typeof answer === "string") problems.push(`${label}: ${answer}`)
          else if (!allowed(answer)) problems.push(`${label}: ${answer.status} ${answer.text.slice(0, 80)}`)
        }
        // 413: the sandbox refused an oversized body unread; 414 / 431: Node's own parser refused the request line
        const wechatAnswer = (a: Answer) =>
          a.status < 500 && ([413, 414, 431].includes(a.status) || a.text.startsWith("{"))
        for (const path of ["api_component_token", "api_query_auth", "api_authorizer_token"]) {
          for (const body of hostileBodies) {
            const url = `${server.url}/cgi-bin/component/${path}?component_access_token=${encodeURIComponent("x")}`
            const answer = yield* send(url, { method: "POST", headers: { "content-type": "application/json" }, body })
            check(`${path} ${body.slice(0, 40)}`, answer, wechatAnswer)
          }
          for (const method of ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"]) {
            const answer = yield* send(`${server.url}/cgi-bin/component/${path}`, {
              method,
              ...(method === "GET" ? {} : { body: "{}" })
            })
            check(`${method} ${path}`, answer, (a) => a.status < 500)
          }
        }
        for (
          const path of [
            "sns/oauth2/component/access_token",
            "sns/oauth2/component/refresh_token",
            "sns/component/jscode2session"
          ]
        ) {
          for (const query of hostileQueries) {
            const answer = yield* send(`${server.url}/${path}?${query}`)
            check(`${path} ${query.slice(0, 40)}`, answer, wechatAnswer)
          }
          const posted = yield* send(`${server.url}/${path}`, { method: "POST", body: "[".repeat(1000) })
          check(`POST ${path}`, posted, (a) => a.status < 500)
        }
        // still serving, and still right
        const sandbox = yield* Sandbox.Sandbox
        const push = yield* sandbox.componentPush({
          componentAppId: PLATFORM.componentAppId,
          infoType: "component_verify_ticket"
        })
        const token = yield* send(`${server.url}/cgi-bin/component/api_component_token`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            component_appid: PLATFORM.componentAppId,
            component_appsecret: PLATFORM.componentAppSecret,
            component_verify_ticket: push.message.ComponentVerifyTicket
          })
        })
        assert.isTrue(typeof token !== "string" && token.text.includes("component_access_token"), JSON.stringify(token))
        console.log(`red team sandbox endpoints: ${calls} hostile requests, ${problems.length} problems`)
        assert.deepStrictEqual(problems, [])
      }).pipe(Effect.provide(ServerLive)),
    120_000
  )

  it.scoped(
    "hostile options to the component controls over HTTP: 4xx with a message, never 5xx",
    () =>
      Effect.gen(function*() {
        const server = yield* SandboxServer.SandboxServer
        const problems: Array<string> = []
        const c = PLATFORM.componentAppId
        const posts: ReadonlyArray<readonly [string, string]> = [
          ["component/push", "null"],
          ["component/push", "[]"],
          ["component/push", "{"],
          ["component/push", JSON.stringify({ componentAppId: c, infoType: "nope" })],
          ["component/push", JSON.stringify({ componentAppId: "__proto__", infoType: "component_verify_ticket" })],
          ["component/push", JSON.stringify({ componentAppId: c, infoType: "authorized" })],
          ["component/push", JSON.stringify({ componentAppId: c, infoType: "authorized", appId: "x".repeat(50_000) })],
          ["component/push", JSON.stringify({ componentAppId: c, infoType: "unauthorized", appId: "constructor" })],
          ["component/push", JSON.stringify({ componentAppId: c, infoType: "authorized", appId: "__proto__" })],
          ["component/push", JSON.stringify({ componentAppId: c, infoType: "component_verify_ticket", forge: null })],
          [
            "component/push",
            JSON.stringify({
              componentAppId: c,
              infoType: "component_verify_ticket",
              forge: { encodingAesKey: "short" }
            })
          ],
          [
            "component/push",
            JSON.stringify({
              componentAppId: c,
              infoType: "component_verify_ticket",
              forge: { encodingAesKey: "!".repeat(43) }
            })
          ],
          [
            "component/push",
            JSON.stringify({
              componentAppId: c,
              infoType: "component_verify_ticket",
              forge: { encodingAesKey: "a".repeat(100_00) }
            })
          ],
          [
            "component/push",
            JSON.stringify({ componentAppId: c, infoType: "component_verify_ticket", forge: { timestamp: 1e300 } })
          ],
          [
            "component/push",
            JSON.stringify({ componentAppId: c, infoType: "component_verify_ticket", forge: { timestamp: -1 } })
          ],
          [
            "component/push",
            JSON.stringify({ componentAppId: c, infoType: "component_verify_ticket", forge: { timestamp: 1.5 } })
          ],
          [
            "component/push",
            JSON.stringify({
              componentAppId: c,
              infoType: "component_verify_ticket",
              forge: { xml: "]]><!DOCTYPE x>" }
            })
          ],
          [
            "component/push",
            JSON.stringify({
              componentAppId: c,
              infoType: "component_verify_ticket",
              forge: { nonce: "", token: "", signature: "" }
            })
          ],
          [
            "component/push",
            JSON.stringify({ componentAppId: c, infoType: "component_verify_ticket", forge: { appId: "\ud800" } })
          ],
          ["component/ticket", JSON.stringify({ componentAppId: c })],
          ["component/ticket", JSON.stringify({ componentAppId: 42 })],
          ["component/authorize", JSON.stringify({ componentAppId: c, appId: "wxunknown" })],
          ["component/authorize", JSON.stringify({ componentAppId: c, appId: "wxa0c1b2d3e4f56789" })],
          ["component/unauthorize", JSON.stringify({ componentAppId: c, appId: "toString" })],
          ["component/updateauthorized", JSON.stringify({ componentAppId: c, appId: "wxmanagedofficial1", extra: 1 })],
          ["component/ip", JSON.stringify({ componentAppId: c, refuse: "yes" })],
          ["component/refresh-token/revoke", JSON.stringify({ componentAppId: c, appId: "hasOwnProperty" })],
          ["component/token/revoke", JSON.stringify({ componentAppId: "__proto__" })]
        ]
        for (const [path, body] of posts) {
          const answer = yield* send(`${server.url}/__sandbox/${path}`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body
          })
          if (typeof answer === "string") problems.push(`${path} ${body.slice(0, 60)}: ${answer}`)
          else if (answer.status >= 500) {
            problems.push(`${path} ${body.slice(0, 60)}: ${answer.status} ${answer.text.slice(0, 80)}`)
          }
        }
        for (
          const query of [
            "",
            "componentAppId=",
            "componentAppId=__proto__",
            "componentAppId=%E0%A4%A",
            "componentAppId=x&componentAppId=y"
          ]
        ) {
          for (const path of ["component/usage", "component/pushes"]) {
            const answer = yield* send(`${server.url}/__sandbox/${path}?${query}`)
            if (typeof answer === "string") problems.push(`${path}?${query}: ${answer}`)
            else if (answer.status >= 500) {
              problems.push(`${path}?${query}: ${answer.status} ${answer.text.slice(0, 80)}`)
            }
          }
        }
        assert.deepStrictEqual(problems, [])
      }).pipe(Effect.provide(ServerLive)),
    60_000
  )

  it.scoped("the in-process service given junk: a SandboxError, never a defect", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const revoked = Proxy.revocable({}, {})
      revoked.revoke()
      const junk: ReadonlyArray<unknown> = [
        undefined,
        null,
        42,
        "x",
        [],
        {},
        { componentAppId: {} },
        { componentAppId: PLATFORM.componentAppId, infoType: "component_verify_ticket", forge: { timestamp: "now" } },
        { componentAppId: PLATFORM.componentAppId, infoType: "component_verify_ticket", forge: { encodingAesKey: 42 } },
        { componentAppId: PLATFORM.componentAppId, appId: Symbol("x") },
        Object.create(null),
        revoked.proxy
      ]
      const methods = [
        "componentPush",
        "pushTicket",
        "authorize",
        "updateAuthorization",
        "unauthorize",
        "componentPushes",
        "componentTokenUsage",
        "setComponentIpWhitelist",
        "revokeAuthorizerRefreshToken",
        "revokeComponentToken"
      ] as const
      const defects: Array<string> = []
      for (const method of methods) {
        const f = (sandbox as unknown as Record<string, (input: unknown) => Effect.Effect<unknown, unknown>>)[method]
        assert.isFunction(f, method)
        for (const value of junk) {
          let result: Effect.Effect<unknown, unknown>
          try {
            result = f(value)
          } catch (error) {
            defects.push(`${method}: threw ${String(error).slice(0, 80)}`)
            continue
          }
          const exit = yield* Effect.exit(Effect.timeout(result, "5 seconds"))
          if (Exit.isFailure(exit) && Cause.isDie(exit.cause)) {
            defects.push(`${method}(${typeof value}): died ${Cause.pretty(exit.cause).split("\n")[0].slice(0, 80)}`)
          }
        }
      }
      assert.deepStrictEqual(defects, [])
    }).pipe(Effect.provide(Sandbox.layer({ components: [PLATFORM] }))))
})

describe("red team: the sandbox's API given what only JavaScript makes", () => {
  it.scoped("a Proxy, a revoked Proxy, a Symbol, a BigInt or a field of another type: a SandboxError, never a throw or a defect", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const trap = () => {
        throw new Error("trap")
      }
      const trapping = () => new Proxy({}, { get: trap, has: trap, ownKeys: trap, getOwnPropertyDescriptor: trap })
      const revoked = () => {
        const r = Proxy.revocable({}, {})
        r.revoke()
        return r.proxy
      }
      const oa = Sandbox.defaultApps.officialAccount
      const aesKey = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"
      // each was a throw out of the call or a defect of its Effect before
      const calls: ReadonlyArray<readonly [string, () => unknown]> = [
        ["make(a Proxy whose traps throw)", () => Sandbox.make(trapping() as never)],
        ["make({ apps: a revoked Proxy })", () => Sandbox.make({ apps: revoked() as never })],
        ["loadOptionsFile(a Symbol)", () => Sandbox.loadOptionsFile(Symbol("path") as never)],
        ["layerConfigFile(a revoked Proxy)", () => Layer.build(Sandbox.layerConfigFile(revoked() as never))],
        ["MessageCrypto.signature(a revoked Proxy)", () => MessageCrypto.signature(revoked() as never)],
        ["MessageCrypto.decrypt(a Proxy whose traps throw)", () => MessageCrypto.decrypt(trapping() as never)],
        [
          "MessageCrypto.encrypt({ random: a revoked Proxy })",
          () =>
            MessageCrypto.encrypt({ encodingAesKey: aesKey, appId: "wx1", message: "m", random: revoked() as never })
        ],
        [
          "approve({ user: a BigInt })",
          () =>
            sandbox.approve({ appId: oa.appId, user: 10n as never, scope: "snsapi_base", redirectUri: "https://a.b/" })
        ],
        [
          "approve({ redirectUri: a Symbol })",
          () =>
            sandbox.approve({ appId: oa.appId, user: "alice", scope: "snsapi_base", redirectUri: Symbol() as never })
        ],
        ["miniProgramLogin(null)", () => sandbox.miniProgramLogin(null as never)],
        ["encryptUserData(a revoked Proxy)", () => sandbox.encryptUserData(revoked() as never)],
        ["phoneNumberCode(undefined)", () => sandbox.phoneNumberCode(undefined as never)],
        ["revokeAppToken({ appId: a Proxy })", () => sandbox.revokeAppToken({ appId: trapping() as never })],
        ["appTokenUsage(a revoked Proxy)", () => sandbox.appTokenUsage(revoked() as never)],
        [
          "layerServer({ host: 42 })",
          () => Layer.build(Layer.provide(Sandbox.layerServer({ port: 0, host: 42 as never }), Sandbox.layer()))
        ],
        [
          "layerServer({ port: a Symbol })",
          () => Layer.build(Layer.provide(Sandbox.layerServer({ port: Symbol() as never }), Sandbox.layer()))
        ]
      ]
      const wrong: Array<string> = []
      for (const [name, call] of calls) {
        let effect: Effect.Effect<unknown, unknown>
        try {
          effect = call() as Effect.Effect<unknown, unknown>
        } catch (error) {
          wrong.push(`${name}: threw ${String(error).slice(0, 80)}`)
          continue
        }
        const exit = yield* Effect.exit(Effect.scoped(effect))
        if (Exit.isSuccess(exit)) wrong.push(`${name}: succeeded`)
        else if (Cause.isDie(exit.cause)) {
          wrong.push(`${name}: died ${Cause.pretty(exit.cause).split("\n")[0].slice(0, 80)}`)
        } else if ((Cause.squash(exit.cause) as { _tag?: unknown })._tag !== "SandboxError") {
          wrong.push(`${name}: ${String(Cause.squash(exit.cause)).slice(0, 80)}`)
        }
      }
      // advanceClock's contract: a bad duration is a defect (its type has no error), never a throw
      try {
        const advanced = yield* Effect.exit(sandbox.advanceClock("banana" as never))
        if (!(Exit.isFailure(advanced) && Cause.isDie(advanced.cause))) {
          wrong.push("advanceClock('banana'): not a defect")
        }
      } catch (error) {
        wrong.push(`advanceClock('banana'): threw ${String(error).slice(0, 80)}`)
      }
      assert.deepStrictEqual(wrong, [])
    }).pipe(Effect.provide(Sandbox.layer())))
})
