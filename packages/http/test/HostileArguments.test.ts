/**
 * Every argument of a public function is untrusted (JavaScript callers): options of the wrong type
 * or shape end in a `ConfigError` naming the field, a value that is not a user in `InvalidArgument`,
 * never a defect.
 */
import { assert, describe, it } from "@effect/vitest"
import { TokenStore, WeChatApps, WeChatHttpClient } from "@wxauth/core"
import { WeChatLogin } from "@wxauth/http"
import * as Cause from "effect/Cause"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"

const app = { kind: "website", appId: "wx2222222222222222", appSecret: "secret" }

/** A Proxy whose every trap throws. */
const throwingProxy = (target: object = {}) => {
  const fail = () => {
    throw new Error("trap")
  }
  return new Proxy(target, {
    get: fail,
    has: fail,
    getPrototypeOf: fail,
    getOwnPropertyDescriptor: fail,
    ownKeys: fail,
    set: fail,
    defineProperty: fail
  })
}

/** A revoked Proxy: every operation on it throws. */
const revokedProxy = (target: object = {}) => {
  const { proxy, revoke } = Proxy.revocable(target, {})
  revoke()
  return proxy
}

/** `base` with a getter at `key` that throws. */
const throwingGetter = (base: object, key: string) =>
  Object.defineProperty({ ...base }, key, {
    enumerable: true,
    get: () => {
      throw new Error("getter")
    }
  })

/** Options as text for a message (hostile ones cannot be read; a long one cut at 300 characters). */
const show = (options: unknown): string => {
  try {
    const text = String(JSON.stringify(options))
    return text.length > 300 ? `${text.slice(0, 300)}... (${text.length} characters)` : text
  } catch {
    return "options that cannot be read"
  }
}

/** The error a layer fails with when built: a ConfigError (never a defect), and its message. */
const buildError = (options: unknown) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(Layer.build(WeChatLogin.layer(options as any)))
    // the options shown only when the layer was built (showing 10 MB options takes a while)
    if (Exit.isSuccess(exit)) return assert.fail(`${show(options)} must fail`)
    const failure = Cause.failureOption(exit.cause)
    assert.isTrue(Option.isSome(failure), `a failure, not a defect: ${Cause.pretty(exit.cause)}`)
    const error = Option.getOrThrow(failure)
    assert.isTrue(ConfigError.isConfigError(error), `a ConfigError: ${String(error)}`)
    return String(error)
  })

describe("WeChatLogin: hostile options", () => {
  const cases: ReadonlyArray<readonly [string, unknown, string]> = [
    ["no options", undefined, "options must be an object"],
    ["a string", "apps", "options must be an object"],
    ["no apps", {}, "apps"],
    ["apps an array", { apps: [app] }, "apps"],
    ["an empty apps", { apps: {} }, "apps"],
    ["a bad key", { apps: { "a b": app } }, "apps.a b"],
    ["a key too long", { apps: { ["k".repeat(33)]: app } }, "apps"],
    ["an app that is null", { apps: { web: null } }, "apps.web"],
    ["an unknown kind", { apps: { web: { ...app, kind: "site" } } }, "apps.web.kind"],
    ["an appId that is a number", { apps: { web: { ...app, appId: 42 } } }, "apps.web.appId"],
    ["no secret", { apps: { web: { ...app, appSecret: undefined } } }, "apps.web.appSecret"],
    ["a base URL with credentials", { apps: { web: { ...app, apiBaseUrl: "https://u:p@x.example" } } }, "apiBaseUrl"],
    ["two apps with one appId", { apps: { a: app, b: app } }, "apps.b.appId"],
    ["a bad scope", { apps: { o: { ...app, kind: "officialAccount", scope: "snsapi_login" } } }, "apps.o.scope"],
    ["qrCode not an object", { apps: { web: { ...app, qrCode: "yes" } } }, "apps.web.qrCode"],
    [
      "a script URL that is not http",
      { apps: { web: { ...app, qrCode: { scriptUrl: "javascript:alert(1)" } } } },
      "scriptUrl"
    ],
    ["a bad style", { apps: { web: { ...app, qrCode: { style: "red" } } } }, "style"],
    ["embedded not a boolean", { apps: { web: { ...app, qrCode: { embedded: "true" } } } }, "embedded"],
    ["phoneNumber not a boolean", { apps: { m: { ...app, kind: "miniProgram", phoneNumber: 1 } } }, "phoneNumber"],
    ["a publicUrl with a path", { apps: { web: app }, publicUrl: "https://example.com/app" }, "publicUrl"],
    ["a publicUrl that is not a URL", { apps: { web: app }, publicUrl: "example.com" }, "publicUrl"],
    ["a publicUrl of another scheme", { apps: { web: app }, publicUrl: "ftp://example.com" }, "publicUrl"],
    ["a pathPrefix with a slash at the end", { apps: { web: app }, pathPrefix: "/auth/" }, "pathPrefix"],
    ["a pathPrefix with ..", { apps: { web: app }, pathPrefix: "/../x" }, "pathPrefix"],
    ["a home on another site", { apps: { web: app }, home: "//evil.example/" }, "home"],
    ["a home that is a number", { apps: { web: app }, home: 1 }, "home"],
    ["a sessionTtl of 0", { apps: { web: app }, sessionTtl: 0 }, "sessionTtl"],
    ["a sessionTtl of Infinity", { apps: { web: app }, sessionTtl: Infinity }, "sessionTtl"],
    ["a sessionTtl of a decade", { apps: { web: app }, sessionTtl: "3650 days" }, "sessionTtl"],
    [
      "a miniProgramSessionTtl that is text",
      { apps: { web: app }, miniProgramSessionTtl: "soon" },
      "miniProgramSessionTtl"
    ],
    ["a maxSessionsPerUser of 0", { apps: { web: app }, maxSessionsPerUser: 0 }, "maxSessionsPerUser"],
    ["a maxSessionsPerUser of 1.5", { apps: { web: app }, maxSessionsPerUser: 1.5 }, "maxSessionsPerUser"],
    ["a maxSessionsPerUser that is text", { apps: { web: app }, maxSessionsPerUser: "100" }, "maxSessionsPerUser"],
    ["hooks that are a function", { apps: { web: app }, hooks: () => 1 }, "hooks"],
    ["an unknown hook", { apps: { web: app }, hooks: { onSignOut: () => Effect.void } }, "hooks.onSignOut"],
    ["an onLogout that is not a function", { apps: { web: app }, hooks: { onLogout: 42 } }, "hooks.onLogout"],
    ["a hook that is not a function", { apps: { web: app }, hooks: { onLogin: "x" } }, "hooks.onLogin"],
    [
      "onFirstLogin without findUser",
      { apps: { web: app }, hooks: { onFirstLogin: () => Effect.succeed("1") } },
      "findUser"
    ],
    ["pages that are a function", { apps: { web: app }, pages: () => "<html></html>" }, "pages"],
    ["pages that are a string", { apps: { web: app }, pages: "<html></html>" }, "pages"],
    ["pages that are null", { apps: { web: app }, pages: null }, "pages"],
    ["an unknown page", { apps: { web: app }, pages: { qr: () => "" } }, "pages.qr"],
    [
      "a problem page that is markup, not a function",
      { apps: { web: app }, pages: { problem: "<h1>" } },
      "pages.problem"
    ],
    [
      "an openInWeChat page that is an object",
      { apps: { web: app }, pages: { openInWeChat: {} } },
      "pages.openInWeChat"
    ],
    ["a registry without kindOf", { registry: {} }, "registry.kindOf"],
    ["a registry without WeChatApps in context", { registry: { kindOf: () => Effect.void } }, "WeChatApps"]
  ]
  for (const [name, options, mentions] of cases) {
    it.scoped(`${name}: a ConfigError naming ${mentions}`, () =>
      Effect.gen(function*() {
        const message = yield* buildError(options)
        assert.include(message, mentions)
        assert.notInclude(message, "secret\"", "no secret in the error")
      }))
  }

  // the regex alone bounds the number of segments, not their length: 10 MB built in ~15 s
  it.live(
    "a pathPrefix of 10 MB: a prompt ConfigError naming pathPrefix, without the value",
    () =>
      Effect.gen(function*() {
        const pathPrefix = "/" + "a".repeat(10_000_000)
        const started = performance.now()
        const message = yield* Effect.scoped(buildError({ apps: { web: app }, pathPrefix }))
        const elapsed = performance.now() - started
        assert.include(message, "pathPrefix")
        assert.include(message, "256 characters")
        assert.isBelow(message.length, 500, "the message does not quote the value")
        assert.notInclude(message, "a".repeat(64))
        assert.isBelow(elapsed, 1000, `refused promptly, not after ${Math.round(elapsed)} ms`)
      }),
    60_000
  )

  it.scoped("a pathPrefix of 257 characters is refused, of 256 accepted (in one segment or eight)", () =>
    Effect.gen(function*() {
      for (const pathPrefix of ["/" + "a".repeat(256), ("/" + "b".repeat(31)).repeat(8) + "c"]) {
        assert.strictEqual(pathPrefix.length, 257)
        const message = yield* buildError({ apps: { web: app }, pathPrefix })
        assert.include(message, "pathPrefix")
        assert.notInclude(message, pathPrefix)
      }
      for (const pathPrefix of ["/" + "a".repeat(255), ("/" + "b".repeat(31)).repeat(8)]) {
        assert.strictEqual(pathPrefix.length, 256)
        const context = yield* Layer.build(
          WeChatLogin.layer({ apps: { web: app as WeChatLogin.AppOptions }, pathPrefix })
        )
        const { paths } = yield* Effect.provide(WeChatLogin.WeChatLogin, context)
        assert.strictEqual(paths.login("web"), `${pathPrefix}/login/web`)
      }
    }))

  // the URL options were checked by parsing alone: a 10 MB URL built the layer in 0.3 to 0.6 s, and
  // a huge publicUrl would be in every redirect_uri. At most 2048 characters, checked before parsing.
  const registryApps = WeChatApps.layer(
    { resolve: () => Effect.succeed(undefined) },
    { stateSecret: "a registry-wide secret, 32 chars" }
  ).pipe(Layer.provide(TokenStore.layerMemory), Layer.provide(WeChatHttpClient.layer()))
  const urlOptions: ReadonlyArray<
    readonly [string, (url: string) => Record<string, unknown>, (length: number) => string]
  > = [
    ["publicUrl", (url) => ({ apps: { web: app }, publicUrl: url }), (n) => "https://" + "a".repeat(n - 8)],
    [
      "apps.web.qrCode.scriptUrl",
      (url) => ({ apps: { web: { ...app, qrCode: { embedded: true, scriptUrl: url } } } }),
      (n) => "https://x.example/" + "a".repeat(n - 18)
    ],
    [
      "apps.web.qrCode.href",
      (url) => ({ apps: { web: { ...app, qrCode: { embedded: true, href: url } } } }),
      (n) => "https://x.example/" + "a".repeat(n - 18)
    ],
    [
      "registry.qrCode.scriptUrl",
      (url) => ({ registry: { kindOf: () => Effect.succeed("website"), qrCode: { scriptUrl: url } } }),
      (n) => "https://x.example/" + "a".repeat(n - 18)
    ],
    [
      "registry.openBaseUrl",
      (url) => ({ registry: { kindOf: () => Effect.succeed("website"), openBaseUrl: url } }),
      (n) => "https://" + "a".repeat(n - 8)
    ]
  ]
  for (const [at, options, urlOf] of urlOptions) {
    it.live(
      `a ${at} of 10 MB: a prompt ConfigError naming ${at}, without the value`,
      () =>
        Effect.gen(function*() {
          const url = urlOf(10_000_000)
          const started = performance.now()
          const message = yield* Effect.scoped(buildError(options(url)))
          const elapsed = performance.now() - started
          assert.include(message, at)
          assert.include(message, "2048 characters")
          assert.isBelow(message.length, 500, "the message does not quote the value")
          assert.notInclude(message, "a".repeat(64))
          assert.isBelow(elapsed, 1000, `refused promptly, not after ${Math.round(elapsed)} ms`)
        }),
      60_000
    )

    it.scoped(`a ${at} of 2049 characters is refused, of 2048 accepted`, () =>
      Effect.gen(function*() {
        const over = urlOf(2049)
        assert.strictEqual(over.length, 2049)
        const message = yield* buildError(options(over))
        assert.include(message, at)
        assert.notInclude(message, over)
        const within = urlOf(2048)
        assert.strictEqual(within.length, 2048)
        yield* Layer.build(
          WeChatLogin.layer(options(within) as WeChatLogin.Options).pipe(Layer.provide(registryApps))
        )
      }))
  }

  // home was bounded already (a landing path: 8192 characters before parsing, 2048 bytes after)
  it.live("a home of 10 MB: a prompt ConfigError naming home and its bound, without the value", () =>
    Effect.gen(function*() {
      const home = "/" + "a".repeat(10_000_000)
      const started = performance.now()
      const message = yield* Effect.scoped(buildError({ apps: { web: app }, home }))
      const elapsed = performance.now() - started
      assert.include(message, "home")
      assert.include(message, "2048 bytes")
      assert.isBelow(message.length, 500, "the message does not quote the value")
      assert.isBelow(elapsed, 1000, `refused promptly, not after ${Math.round(elapsed)} ms`)
    }))

  it.scoped("a URL of 2048 characters that is longer once percent-encoded is refused (it is sent as encoded)", () =>
    Effect.gen(function*() {
      const url = "https://x.example/" + "é".repeat(2030)
      assert.strictEqual(url.length, 2048)
      const message = yield* buildError({ apps: { web: { ...app, qrCode: { embedded: true, href: url } } } })
      assert.include(message, "apps.web.qrCode.href")
      assert.include(message, "2048 characters")
    }))

  // options a JavaScript caller built with getters or Proxies: each read once, a throw a ConfigError
  const unreadable: ReadonlyArray<readonly [string, () => unknown, string]> = [
    ["options whose getter throws", () => throwingGetter({ apps: { web: app } }, "apps"), "at apps:"],
    ["options a Proxy whose traps throw", () => throwingProxy({ apps: { web: app } }), "at apps:"],
    ["options a revoked Proxy", () => revokedProxy({ apps: { web: app } }), "at :"],
    ["apps a Proxy whose traps throw", () => ({ apps: throwingProxy({ web: app }) }), "at apps:"],
    ["an app's getter that throws", () => ({ apps: { web: throwingGetter(app, "kind") } }), "at apps.web.kind:"],
    ["an app that is a revoked Proxy", () => ({ apps: { web: revokedProxy(app) } }), "at apps.web:"],
    ["a qrCode Proxy", () => ({ apps: { web: { ...app, qrCode: throwingProxy() } } }), "at apps.web.qrCode"],
    ["hooks a Proxy whose traps throw", () => ({ apps: { web: app }, hooks: throwingProxy() }), "at hooks:"],
    ["hooks a revoked Proxy", () => ({ apps: { web: app }, hooks: revokedProxy() }), "at hooks:"],
    [
      "a hook's getter that throws",
      () => ({ apps: { web: app }, hooks: throwingGetter({}, "onLogin") }),
      "at hooks.onLogin:"
    ],
    ["pages a Proxy whose traps throw", () => ({ apps: { web: app }, pages: throwingProxy() }), "at pages:"],
    ["a registry Proxy", () => ({ registry: throwingProxy() }), "at registry"]
  ]
  for (const [name, options, mentions] of unreadable) {
    it.scoped(`${name}: a ConfigError (${mentions}), never a defect`, () =>
      Effect.gen(function*() {
        const message = yield* buildError(options())
        assert.include(message, mentions)
        assert.include(message, "cannot be read")
      }))
  }

  it.scoped("layerConfig given what Config.unwrap cannot walk: a ConfigError when built, never a throw", () =>
    Effect.gen(function*() {
      for (
        const options of [throwingProxy(), revokedProxy(), { publicUrl: null }, { apps: throwingProxy() }, 42, null]
      ) {
        // layerConfig itself must not throw: a throw here becomes a defect and fails the test below
        const exit = yield* Effect.exit(Effect.suspend(() => Layer.build(WeChatLogin.layerConfig(options as any))))
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) {
          const failure = Cause.failureOption(exit.cause)
          assert.isTrue(Option.isSome(failure), `a failure, not a defect: ${Cause.pretty(exit.cause)}`)
          assert.isTrue(ConfigError.isConfigError(Option.getOrThrow(failure)))
        }
      }
    }))
})

describe("WeChatLogin: hostile arguments of the service", () => {
  it.scoped("a value that is not a user: InvalidArgument from every method, never a defect", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(WeChatLogin.layer({ apps: { web: app as WeChatLogin.AppOptions } }))
      const login = yield* Effect.provide(WeChatLogin.WeChatLogin, context)
      const fields = {
        app: "web",
        appId: app.appId,
        openid: "o",
        scopes: [],
        kind: "browser",
        sessionId: "a".repeat(64),
        sessionExpiresAt: 0
      }
      for (
        const user of [
          undefined,
          null,
          42,
          "user",
          {},
          { appId: "wx", openid: "o", sessionId: "x" },
          throwingProxy(fields),
          revokedProxy(fields),
          throwingGetter(fields, "openid")
        ]
      ) {
        for (
          const run of [
            login.getUser(user as any),
            login.getToken(user as any),
            login.logout(user as any),
            login.logoutEverywhere(user as any)
          ]
        ) {
          const exit = yield* Effect.exit(run as Effect.Effect<unknown, { readonly _tag: string }>)
          assert.isTrue(Exit.isFailure(exit))
          if (Exit.isFailure(exit)) {
            const failure = Cause.failureOption(exit.cause)
            assert.isTrue(Option.isSome(failure), Cause.pretty(exit.cause))
            assert.strictEqual(Option.getOrThrow(failure)._tag, "InvalidArgument")
          }
        }
      }
    }))

  it.scoped("paths.login never throws: a lone surrogate is sent as U+FFFD, a value that is not a string is left out", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(WeChatLogin.layer({ apps: { web: app as WeChatLogin.AppOptions } }))
      const { paths } = yield* Effect.provide(WeChatLogin.WeChatLogin, context)
      assert.strictEqual(paths.login("web", "/a\ud800b"), "/login/web?returnTo=%2Fa%EF%BF%BDb")
      assert.strictEqual(paths.login("\udc00"), "/login/%EF%BF%BD")
      // a well-formed value is encoded as before
      assert.strictEqual(
        paths.login("web", "/订单?a=1&b=2"),
        `/login/web?returnTo=${encodeURIComponent("/订单?a=1&b=2")}`
      )
      const unreadable = {
        toString: () => {
          throw new Error("toString")
        }
      }
      for (const value of [Symbol("x"), unreadable, throwingProxy(), revokedProxy()]) {
        assert.strictEqual(paths.login(value as any), "/login")
        assert.strictEqual(paths.login("web", value as any), "/login/web")
      }
    }))

  it.scoped("handles never throws: a value that is not a path (a URL object, undefined, a Proxy) is not the login's", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(WeChatLogin.layer({ apps: { web: app as WeChatLogin.AppOptions } }))
      const login = yield* Effect.provide(WeChatLogin.WeChatLogin, context)
      assert.isTrue(login.handles("/login/web"))
      for (const value of [undefined, null, 42, new URL("http://app.test/login"), throwingProxy(), revokedProxy()]) {
        assert.isFalse(login.handles(value as any))
      }
    }))

  it("toWebHandler with options it cannot read (a throwing getter, a Proxy): no throw, served as without them", async () => {
    const hostile = [
      throwingGetter({}, "memoMap"),
      throwingProxy(),
      revokedProxy()
    ]
    for (const options of hostile) {
      let web: WeChatLogin.WebHandler
      try {
        web = WeChatLogin.toWebHandler(
          WeChatLogin.layer({ apps: { web: app as WeChatLogin.AppOptions } }),
          options as any
        )
      } catch (error) {
        assert.fail(`toWebHandler threw: ${String(error)}`)
      }
      const response = await web.handler(new Request("http://app.test/login/web"))
      assert.strictEqual(response.status, 302)
      await web.dispose()
    }
  })

  it("toWebHandler with a memoMap that is not a Layer.MemoMap: served as without it, never a 500 on every request", async () => {
    for (const memoMap of [{}, "memo", 42, null, Symbol("memo"), [], () => undefined, Object.create(null)]) {
      const web = WeChatLogin.toWebHandler(
        WeChatLogin.layer({ apps: { web: app as WeChatLogin.AppOptions } }),
        { memoMap: memoMap as any }
      )
      const response = await web.handler(new Request("http://app.test/login/web"))
      assert.strictEqual(response.status, 302, String(typeof memoMap))
      await web.dispose()
    }
  })

  it("escapeHtml: the five characters escaped; a number as digits; anything else a TypeError, never raw text", () => {
    assert.strictEqual(
      WeChatLogin.escapeHtml(`<a href="x" title='y'>&</a>`),
      "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
    )
    assert.strictEqual(WeChatLogin.escapeHtml(404), "404")
    const sneaky = { toString: () => "<script>alert(1)</script>" }
    for (const value of [undefined, null, sneaky, ["<b>"], Symbol("x"), () => "<b>"]) {
      assert.throws(() => WeChatLogin.escapeHtml(value as any), TypeError)
    }
  })

  it("toWebHandler with a layer that is not a layer: handler answers 500, nothing throws", async () => {
    const web = WeChatLogin.toWebHandler(42 as any)
    const response = await web.handler(new Request("http://app.test/login"))
    assert.strictEqual(response.status, 500)
    await web.dispose().catch(() => undefined)
  })
})
