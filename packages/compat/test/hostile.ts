/**
 * Hostile arguments for every public function of the compat API, with `wechat-oauth` 1.5.0 as the
 * oracle: each function is called with `undefined`, `null`, numbers, objects and 10 MB strings in
 * each argument (one at a time, then all at once), in its callback and promise forms and with a
 * non-function callback. A call is a defect when it throws where `wechat-oauth`'s same call does not
 * throw, throws or rejects or calls back with anything but a compat error, calls back more than once,
 * or does not settle within 5 s. A leak is an app secret, code, token or session key passed in that
 * shows up in an error (message, stack, `JSON.stringify`, `util.inspect`, or any property, causes
 * included).
 */
import { hostileValues as sweepValues } from "@wxauth/test-support"
import { createRequire } from "node:module"
import * as Util from "node:util"

/** What the harness calls: the ES module entry, or what `require("@wxauth/compat")` returns. */
export interface CompatModule {
  readonly OAuth: new(...args: Array<any>) => any
  readonly AccessToken: new(data: any) => { isValid(): boolean }
  readonly CompatError: new(options: any) => Error
  readonly isCompatError: (u: unknown) => boolean
  readonly fromStored: (openid: any, stored: any) => unknown
  readonly toOAuthToken: (openid: any, stored: any) => unknown
  readonly toTokenData: (token: any) => unknown
  readonly getAuthUrl: (...args: Array<any>) => unknown
  readonly getToken: (...args: Array<any>) => unknown
  readonly refreshToken: (...args: Array<any>) => unknown
  readonly getUserinfo: (...args: Array<any>) => unknown
  readonly checkAccessToken: (...args: Array<any>) => unknown
  /** Exported by `@wxauth/compat/CompatError` only. */
  readonly fromCoreError?: ((u: any) => unknown) | undefined
  readonly fromCause?: ((u: any) => unknown) | undefined
  readonly fromDefect?: ((u: any) => unknown) | undefined
}

/** The values a drop-in's JavaScript caller may hand over, and what a real client holds. */
export interface Baseline {
  readonly oa: { readonly appId: string; readonly secret: string }
  readonly mini: { readonly appId: string; readonly secret: string }
  readonly redirectUri: string
  /** A well-formed code WeChat does not know (40029). */
  readonly code: string
  readonly openid: string
  readonly accessToken: string
  readonly refreshToken: string
  readonly sessionKey: string
  readonly encryptedData: string
  readonly iv: string
}

export interface Totals {
  calls: number
  readonly defects: Array<string>
  readonly leaks: Array<string>
}

const tenMegabytes = 10 * 1024 * 1024
/** Marks the 10 MB string given where a secret goes: the marker must never be seen in an error. */
const leakMarker = "SECRETLEAK"
const bigSecret = `Zx9${leakMarker}.`.repeat(Math.ceil(tenMegabytes / 14)).slice(0, tenMegabytes)
const bigPlain = "o".repeat(tenMegabytes)

interface Hostile {
  readonly label: string
  readonly make: (secret: boolean) => unknown
}

const hostileObject = () => ({
  openid: bigPlain,
  openId: Object.create(null),
  code: Object.create(null),
  lang: 5,
  sessionKey: {},
  encryptedData: bigPlain,
  iv: null,
  policy: { refreshSkew: "soon", isTransient: 5 },
  timeout: {},
  tokenStore: 5,
  refreshLock: "lock",
  hookTimeout: {},
  apiBaseUrl: 5,
  openBaseUrl: {},
  proxy: 5,
  data: 5,
  access_token: {},
  refresh_token: [],
  create_at: {},
  expires_in: "never",
  scope: 5,
  unionid: {},
  _tag: 5,
  name: 5,
  message: 5,
  cause: 5
})

const hostileValues: ReadonlyArray<Hostile> = [
  { label: "undefined", make: () => undefined },
  { label: "null", make: () => null },
  { label: "0", make: () => 0 },
  { label: "-1", make: () => -1 },
  { label: "NaN", make: () => Number.NaN },
  { label: "Infinity", make: () => Number.POSITIVE_INFINITY },
  { label: "{}", make: () => ({}) },
  { label: "[]", make: () => [] },
  { label: "Object.create(null)", make: () => Object.create(null) },
  {
    label: "an object whose toString throws",
    make: () => ({
      toString() {
        throw new TypeError("toString")
      },
      valueOf() {
        throw new TypeError("valueOf")
      }
    })
  },
  { label: "an object of hostile fields", make: hostileObject },
  { label: "a 10 MB string", make: (secret) => secret ? bigSecret : bigPlain },
  // encodeURIComponent and querystring.escape throw a URIError on it
  { label: "a lone surrogate", make: () => "\uD800" },
  // the shared sweep's values (test-support) not above: -0, 2**64, a BigInt, a Symbol, a function,
  // a frozen object, throwing getters, a trapping or revoked Proxy, NUL / newline strings, a
  // Redacted of a non-string, objects posing as Redacted, Duration or Option...
  ...sweepValues()
    .map(([label]) => label)
    .filter((label) =>
      ![
        "undefined",
        "null",
        "0",
        "-1",
        "NaN",
        "Infinity",
        "{}",
        "[]",
        "Object.create(null)",
        "1 MB string",
        // a function where a hook goes is waited for until hookTimeout (30 s): a hook of the app
        "a function",
        "a lone surrogate"
      ].includes(label)
    )
    .map((label): Hostile => ({ label, make: () => sweepValues().find(([l]) => l === label)![1] }))
]

const nonFunctionCallbacks = hostileValues.filter((hostile) => hostile.label !== "undefined")

/** How a compat function is called. */
interface Spec {
  readonly name: string
  /** Per argument: does it carry a secret (app secret, code, token, session key)? */
  readonly secret: ReadonlyArray<boolean>
  readonly baseline: () => Array<unknown>
  /** More argument lists worth a call. */
  readonly extra?: (() => ReadonlyArray<{ readonly label: string; readonly args: Array<unknown> }>) | undefined
  /**
   * `callback`: a trailing callback, a promise without one (the OAuth methods); `sync`: returns or
   * throws; `syncOrCallback`: returns or throws, or with a callback calls it (decryptMiniProgramUser).
   */
  readonly form: "callback" | "sync" | "syncOrCallback" | "promise"
  readonly compat: (args: Array<unknown>) => unknown
  /** `wechat-oauth`'s same call (its request answered locally); none: the compat call must not throw. */
  readonly legacy?: ((args: Array<unknown>) => unknown) | undefined
  /** A conversion documented to throw a `WeChatAPIInvalidArgumentError` (no `wechat-oauth` counterpart). */
  readonly throwsCompatError?: boolean | undefined
  /** What a value it returns must be (a defect description otherwise). */
  readonly expect?: ((result: unknown) => string | undefined) | undefined
  /** Calls to make on what it returned (a new client, a token object): each checked like a call. */
  readonly probe?: ((result: unknown) => ReadonlyArray<Probe>) | undefined
}

interface Probe {
  readonly name: string
  readonly call: () => unknown
  readonly expect?: ((result: unknown) => string | undefined) | undefined
}

const LegacyOAuth = createRequire(import.meta.url)("wechat-oauth") as new(...args: Array<unknown>) => any

/** WeChat's answers, given locally to `wechat-oauth` (only whether it throws synchronously matters). */
const legacyAnswer = (url: string): unknown => {
  if (url.includes("/sns/oauth2/")) {
    return {
      access_token: "LEGACYACCESS",
      expires_in: 7200,
      refresh_token: "LEGACYREFRESH",
      openid: "olegacy",
      scope: "snsapi_userinfo"
    }
  }
  if (url.includes("/sns/userinfo")) {
    return {
      openid: "olegacy",
      nickname: "n",
      sex: 1,
      province: "",
      city: "",
      country: "",
      headimgurl: "",
      privilege: []
    }
  }
  if (url.includes("/sns/jscode2session")) return { session_key: "c2Vzc2lvbmtleTEyMzQ1Ng==", openid: "olegacy" }
  return { errcode: 0, errmsg: "ok" }
}

/** A real `wechat-oauth` client whose `request` answers locally, as WeChat would. */
export const legacyClient = (...args: Array<unknown>): any => {
  const client = new LegacyOAuth(...args)
  client.request = function(url: string, _options: unknown, callback: (...args: Array<unknown>) => void) {
    setImmediate(() => {
      try {
        callback(null, legacyAnswer(url), { status: 200 })
      } catch {
        // wechat-oauth's own asynchronous throw (e.g. no callback given): not what the oracle compares
      }
    })
  }
  return client
}

const noop = () => {}

/** Every string an error shows: message, stack, JSON, inspection, and every property, causes included. */
export const textsOf = (error: unknown): Array<string> => {
  const texts: Array<string> = []
  try {
    const json = JSON.stringify(error)
    if (typeof json === "string") texts.push(json)
  } catch {
    texts.push("<JSON.stringify threw>")
  }
  try {
    texts.push(Util.inspect(error, { depth: 8, maxStringLength: Infinity, breakLength: Infinity }))
  } catch {
    texts.push("<util.inspect threw>")
  }
  const seen = new Set<unknown>()
  let budget = 5000
  const walk = (value: unknown, depth: number): void => {
    if (typeof value === "string") {
      texts.push(value)
      return
    }
    if ((typeof value !== "object" && typeof value !== "function") || value === null) return
    if (seen.has(value) || depth > 10 || budget-- <= 0) return
    seen.add(value)
    for (const key of ["message", "stack", "name", "cause", "errmsg"]) {
      try {
        walk((value as Record<string, unknown>)[key], depth + 1)
      } catch {
        // a getter that throws shows nothing
      }
    }
    for (const key of Reflect.ownKeys(value)) {
      const descriptor = Object.getOwnPropertyDescriptor(value, key)
      if (descriptor !== undefined && "value" in descriptor) walk(descriptor.value, depth + 1)
    }
  }
  walk(error, 0)
  return texts
}

/** Resolves with the outcome of `promise`, or `timeout` after `millis`. */
const within = <A>(
  promise: Promise<A>,
  millis: number
): Promise<
  { readonly _tag: "Fulfilled"; readonly value: A } | { readonly _tag: "Rejected"; readonly error: unknown } | {
    readonly _tag: "Timeout"
  }
> =>
  new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ _tag: "Timeout" }), millis)
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve({ _tag: "Fulfilled", value })
      },
      (error) => {
        clearTimeout(timer)
        resolve({ _tag: "Rejected", error })
      }
    )
  })

const isThenable = (u: unknown): u is PromiseLike<unknown> =>
  (typeof u === "object" || typeof u === "function") && u !== null && typeof (u as any).then === "function"

const describe = (u: unknown): string => {
  if (u instanceof Error) return `${u.constructor.name} ${u.name}: ${u.message.slice(0, 120)}`
  return typeof u
}

/**
 * Runs the hostile calls of every spec against `compat` and adds them to `totals`. Each call is
 * awaited (bounded) before the next.
 */
export const run = async (
  entry: string,
  compat: CompatModule,
  baseline: Baseline,
  totals: Totals
): Promise<void> => {
  const callbacks: Array<{ readonly label: string; count: number }> = []
  const secrets = [
    baseline.oa.secret,
    baseline.mini.secret,
    baseline.code,
    baseline.accessToken,
    baseline.refreshToken,
    baseline.sessionKey,
    leakMarker
  ]
  const isCompat = (u: unknown) => u instanceof compat.CompatError

  const checkError = (label: string, error: unknown, how: string) => {
    if (!isCompat(error)) totals.defects.push(`${label}: ${how} ${describe(error)}, not a compat error`)
    const texts = textsOf(error)
    for (const secret of secrets) {
      if (texts.some((text) => text.includes(secret))) {
        totals.leaks.push(`${label}: a secret ${secret === leakMarker ? "(10 MB argument)" : "value"} in the error`)
        break
      }
    }
  }

  /** One call: checked against the oracle (`legacyThrew`), then its value, promise or callback. */
  const observe = async (
    label: string,
    call: () => unknown,
    options: {
      readonly legacyThrew: boolean
      readonly throwsCompatError?: boolean | undefined
      readonly callback?: Promise<[unknown, unknown]> | undefined
      readonly expect?: ((result: unknown) => string | undefined) | undefined
    }
  ): Promise<{ readonly ok: boolean; readonly value?: unknown }> => {
    totals.calls++
    let returned: unknown
    try {
      returned = call()
    } catch (error) {
      if (!options.legacyThrew && !options.throwsCompatError) {
        totals.defects.push(`${label}: throws (${describe(error)}) where wechat-oauth does not`)
      }
      checkError(label, error, "throws")
      return { ok: false }
    }
    if (options.callback !== undefined) {
      const outcome = await within(options.callback, 5000)
      if (outcome._tag === "Timeout") {
        totals.defects.push(`${label}: no callback within 5 s`)
        return { ok: false }
      }
      const [err, result] = outcome._tag === "Fulfilled" ? outcome.value : [outcome.error, undefined]
      if (err !== null && err !== undefined) {
        checkError(label, err, "calls back with")
        return { ok: false }
      }
      return { ok: true, value: result }
    }
    if (isThenable(returned)) {
      const outcome = await within(Promise.resolve(returned), 5000)
      if (outcome._tag === "Timeout") {
        totals.defects.push(`${label}: the promise did not settle within 5 s`)
        return { ok: false }
      }
      if (outcome._tag === "Rejected") {
        checkError(label, outcome.error, "rejects with")
        return { ok: false }
      }
      returned = outcome.value
    }
    const wrong = options.expect?.(returned)
    if (wrong !== undefined) totals.defects.push(`${label}: ${wrong}`)
    return { ok: true, value: returned }
  }

  const legacyThrows = (spec: Spec, args: Array<unknown>): boolean => {
    if (spec.legacy === undefined) return false
    try {
      spec.legacy(args)
      return false
    } catch {
      return true
    }
  }

  const callOnce = async (
    spec: Spec,
    label: string,
    args: Array<unknown>,
    callbackSlot: "none" | "function" | Hostile
  ) => {
    const full = `${entry} ${spec.name}(${label})${
      callbackSlot === "none"
        ? ""
        : callbackSlot === "function"
        ? " with a callback"
        : ` with ${callbackSlot.label} as callback`
    }`
    let callback: Promise<[unknown, unknown]> | undefined
    let compatArgs = args
    let legacyArgs = args
    if (callbackSlot === "function") {
      const record = { label: full, count: 0 }
      callbacks.push(record)
      callback = new Promise((resolve) => {
        compatArgs = [...args, (err: unknown, result: unknown) => {
          record.count++
          resolve([err, result])
        }]
      })
      legacyArgs = [...args, noop]
    } else if (callbackSlot !== "none") {
      compatArgs = [...args, callbackSlot.make(false)]
      legacyArgs = compatArgs
    }
    const legacyThrew = legacyThrows(spec, legacyArgs)
    const outcome = await observe(full, () => spec.compat(compatArgs), {
      legacyThrew,
      throwsCompatError: spec.throwsCompatError,
      callback,
      expect: callbackSlot === "function" ? undefined : spec.expect
    })
    if (outcome.ok && spec.probe !== undefined) {
      for (const probe of spec.probe(outcome.value)) {
        await observe(`${full} then ${probe.name}`, probe.call, { legacyThrew: false, expect: probe.expect })
      }
    }
  }

  for (const spec of specs(compat, baseline)) {
    const lists: Array<{ readonly label: string; readonly args: Array<unknown> }> = [
      { label: "baseline", args: spec.baseline() }
    ]
    for (let i = 0; i < spec.secret.length; i++) {
      for (const hostile of hostileValues) {
        const args = spec.baseline()
        args[i] = hostile.make(spec.secret[i]!)
        lists.push({ label: `argument ${i + 1}: ${hostile.label}`, args })
      }
    }
    if (spec.secret.length > 1) {
      for (const hostile of hostileValues) {
        lists.push({
          label: `every argument: ${hostile.label}`,
          args: spec.secret.map((secret) => hostile.make(secret))
        })
      }
    }
    lists.push(...(spec.extra?.() ?? []))
    for (const { args, label } of lists) {
      if (spec.form === "callback" || spec.form === "syncOrCallback") {
        await callOnce(spec, label, args, "none")
        await callOnce(spec, label, args, "function")
      } else {
        await callOnce(spec, label, args, "none")
      }
    }
    if (spec.form === "callback" || spec.form === "syncOrCallback") {
      for (const hostile of nonFunctionCallbacks) await callOnce(spec, "baseline", spec.baseline(), hostile)
    }
  }
  // a callback called twice shows only after the first call settled
  await new Promise((resolve) => setTimeout(resolve, 200))
  for (const record of callbacks) {
    if (record.count > 1) totals.defects.push(`${record.label}: the callback was called ${record.count} times`)
  }
}

const isAuthUrl = (u: unknown) =>
  u === false ||
    (typeof u === "object" && u !== null && typeof (u as any).url === "string" && typeof (u as any).state === "string")
    ? undefined
    : "getAuthUrl returned neither false nor { url, state }"

const isBoolean = (u: unknown) => typeof u === "boolean" ? undefined : `returned ${typeof u}, not a boolean`

const isString = (u: unknown) => typeof u === "string" ? undefined : `returned ${typeof u}, not a string`

const specs = (compat: CompatModule, baseline: Baseline): ReadonlyArray<Spec> => {
  const { OAuth } = compat
  const oa = baseline.oa
  const mini = baseline.mini
  // one client per spec that changes what it holds, so a hostile call cannot spoil another spec's baseline
  const clients = {
    oa: new OAuth(oa.appId, oa.secret),
    hooks: new OAuth(oa.appId, oa.secret),
    opts: new OAuth(oa.appId, oa.secret),
    mini: new OAuth(mini.appId, mini.secret, null, null, true)
  }
  const legacy = {
    oa: legacyClient(oa.appId, oa.secret),
    mini: legacyClient(mini.appId, mini.secret, null, null, true)
  }
  const tokenData = () => ({
    access_token: baseline.accessToken,
    expires_in: 7200,
    refresh_token: baseline.refreshToken,
    openid: baseline.openid,
    scope: "snsapi_userinfo",
    create_at: Date.now()
  })
  const clientProbes = (client: any): Array<Probe> => [
    { name: "getAuthorizeURL", call: () => client.getAuthorizeURL(baseline.redirectUri, "state1") },
    { name: "getAccessToken", call: () => client.getAccessToken(baseline.code) },
    { name: "getUser", call: () => client.getUser(baseline.openid) },
    { name: "close", call: () => client.close() }
  ]
  const method = (
    client: keyof typeof clients,
    name: string,
    secret: ReadonlyArray<boolean>,
    baselineArgs: () => Array<unknown>,
    extra?: Spec["extra"]
  ): Spec => ({
    name: `${client === "mini" ? "mini program " : ""}OAuth#${name}`,
    secret,
    baseline: baselineArgs,
    extra,
    form: "callback",
    compat: (args) => clients[client][name](...args),
    legacy: (args) => legacy[client === "mini" ? "mini" : "oa"][name](...args)
  })
  const all: Array<Spec> = [
    {
      name: "new OAuth",
      secret: [false, true, false, false, false],
      baseline: () => [oa.appId, oa.secret, undefined, undefined, undefined],
      form: "sync",
      compat: (args) => new OAuth(...args),
      legacy: (args) => legacyClient(...args),
      probe: (client) => clientProbes(client)
    },
    {
      name: "OAuth#getAuthorizeURL",
      secret: [false, false, false],
      baseline: () => [baseline.redirectUri, "state1", "snsapi_userinfo"],
      form: "sync",
      compat: (args) => clients.oa.getAuthorizeURL(...args),
      legacy: (args) => legacy.oa.getAuthorizeURL(...args),
      expect: isString
    },
    {
      name: "OAuth#getAuthorizeURLForWebsite",
      secret: [false, false, false],
      baseline: () => [baseline.redirectUri, "state1", "snsapi_login"],
      form: "sync",
      compat: (args) => clients.oa.getAuthorizeURLForWebsite(...args),
      legacy: (args) => legacy.oa.getAuthorizeURLForWebsite(...args),
      expect: isString
    },
    method("oa", "getAccessToken", [true], () => [baseline.code]),
    method("oa", "refreshAccessToken", [true], () => [baseline.refreshToken]),
    method("oa", "getUser", [false], () => [baseline.openid], () => [
      { label: "{ openid, lang: zh_CN }", args: [{ openid: baseline.openid, lang: "zh_CN" }] },
      { label: "{ openid: number }", args: [{ openid: 5 }] },
      { label: "{ openid, lang: {} }", args: [{ openid: baseline.openid, lang: {} }] }
    ]),
    method("oa", "getUserByCode", [true], () => [baseline.code], () => [
      { label: "{ code, lang: zh_CN }", args: [{ code: baseline.code, lang: "zh_CN" }] },
      { label: "{ code: Object.create(null) }", args: [{ code: Object.create(null), lang: 5 }] }
    ]),
    method("oa", "verifyToken", [false, true], () => [baseline.openid, baseline.accessToken]),
    method("hooks", "getToken", [false], () => [baseline.openid]),
    method("hooks", "saveToken", [false, true], () => [baseline.openid, tokenData()]),
    method("mini", "getSessionKey", [true], () => [baseline.code]),
    method("mini", "getUserByCode", [true], () => [{
      code: baseline.code,
      encryptedData: baseline.encryptedData,
      iv: baseline.iv
    }]),
    {
      name: "mini program OAuth#decryptMiniProgramUser",
      secret: [true],
      baseline: () => [{ sessionKey: baseline.sessionKey, encryptedData: baseline.encryptedData, iv: baseline.iv }],
      extra: () => [
        { label: "{ sessionKey: 10 MB }", args: [{ sessionKey: bigSecret, encryptedData: baseline.encryptedData }] },
        { label: "{ encryptedData: 10 MB }", args: [{ sessionKey: baseline.sessionKey, encryptedData: bigPlain }] },
        { label: "{ iv: {} }", args: [{ sessionKey: baseline.sessionKey, encryptedData: "AAAA", iv: {} }] }
      ],
      form: "syncOrCallback",
      compat: (args) => clients.mini.decryptMiniProgramUser(...args),
      legacy: (args) => legacy.mini.decryptMiniProgramUser(...args)
    },
    {
      name: "OAuth#setOpts",
      secret: [false],
      baseline: () => [{ timeout: 5000 }],
      form: "sync",
      compat: (args) => clients.opts.setOpts(...args),
      legacy: (args) => legacy.oa.setOpts(...args),
      probe: () => clientProbes(clients.opts).filter((probe) => probe.name !== "close")
    },
    {
      name: "OAuth#appsecret =",
      secret: [true],
      baseline: () => [oa.secret],
      form: "sync",
      compat: (args) => {
        clients.opts.setOpts({})
        clients.opts.appsecret = args[0]
      },
      legacy: (args) => {
        legacy.oa.appsecret = args[0]
      },
      probe: () => [{ name: "getAccessToken", call: () => clients.opts.getAccessToken(baseline.code) }]
    },
    {
      name: "OAuth#appid =",
      secret: [false],
      baseline: () => [oa.appId],
      form: "sync",
      compat: (args) => {
        clients.opts.appsecret = oa.secret
        clients.opts.appid = args[0]
      },
      legacy: (args) => {
        legacy.oa.appid = args[0]
      },
      probe: () => clientProbes(clients.opts).filter((probe) => probe.name !== "close")
    },
    {
      name: "OAuth#close",
      secret: [],
      baseline: () => [],
      form: "promise",
      compat: () => new OAuth(oa.appId, oa.secret).close()
    },
    {
      name: "OAuth#runtime, OAuth#layer",
      secret: [],
      baseline: () => [],
      form: "sync",
      compat: () => [clients.oa.runtime, clients.oa.layer]
    },
    {
      name: "getAuthUrl",
      secret: [false, false, false, false],
      baseline: () => [oa.appId, baseline.redirectUri, "state1", "snsapi_userinfo"],
      form: "sync",
      compat: (args) => compat.getAuthUrl(...args),
      expect: isAuthUrl
    },
    {
      name: "getToken",
      secret: [false, true, true],
      baseline: () => [oa.appId, baseline.code, oa.secret],
      extra: () => [
        { label: "a callback URL with a 10 MB code", args: [oa.appId, `/cb?state=s&code=${bigSecret}`, oa.secret] },
        {
          label: "a callback URL",
          args: [oa.appId, `${baseline.redirectUri}?code=${baseline.code}&state=s`, oa.secret]
        }
      ],
      form: "promise",
      compat: (args) => compat.getToken(...args)
    },
    {
      name: "refreshToken",
      secret: [false, true],
      baseline: () => [oa.appId, baseline.refreshToken],
      form: "promise",
      compat: (args) => compat.refreshToken(...args)
    },
    {
      name: "getUserinfo",
      secret: [true, false, false],
      baseline: () => [baseline.accessToken, baseline.openid, "zh_CN"],
      form: "promise",
      compat: (args) => compat.getUserinfo(...args)
    },
    {
      name: "checkAccessToken",
      secret: [true, false],
      baseline: () => [baseline.accessToken, baseline.openid],
      form: "promise",
      compat: (args) => compat.checkAccessToken(...args),
      expect: isBoolean
    },
    {
      name: "fromStored",
      secret: [false, true],
      baseline: () => [baseline.openid, tokenData()],
      form: "sync",
      compat: (args) => compat.fromStored(...(args as [unknown, unknown])),
      expect: (u) =>
        typeof u === "object" && u !== null && ((u as any)._tag === "Left" || (u as any)._tag === "Right")
          ? undefined
          : "fromStored returned no Either"
    },
    {
      name: "toOAuthToken",
      secret: [false, true],
      baseline: () => [baseline.openid, tokenData()],
      form: "sync",
      throwsCompatError: true,
      compat: (args) => compat.toOAuthToken(...(args as [unknown, unknown]))
    },
    {
      name: "toTokenData",
      secret: [true],
      baseline: () => [compat.toOAuthToken(baseline.openid, tokenData())],
      form: "sync",
      throwsCompatError: true,
      compat: (args) => compat.toTokenData(args[0])
    },
    {
      name: "new AccessToken",
      secret: [true],
      baseline: () => [tokenData()],
      form: "sync",
      compat: (args) => new compat.AccessToken(args[0]),
      probe: (token) => [{ name: "isValid", call: () => (token as any).isValid(), expect: isBoolean }]
    },
    {
      name: "new CompatError",
      secret: [false],
      baseline: () => [{ name: "WeChatAPIError", tag: "InvalidCode", message: "invalid code" }],
      form: "sync",
      compat: (args) => new compat.CompatError(args[0]),
      expect: (u) => u instanceof compat.CompatError ? undefined : "not a CompatError"
    },
    {
      name: "isCompatError",
      secret: [false],
      baseline: () => [new compat.CompatError({ name: "WeChatAPIError", tag: "InvalidCode", message: "m" })],
      form: "sync",
      compat: (args) => compat.isCompatError(args[0]),
      expect: isBoolean
    }
  ]
  const converters = [["fromCoreError", compat.fromCoreError], ["fromCause", compat.fromCause], [
    "fromDefect",
    compat.fromDefect
  ]] as const
  for (const [name, convert] of converters) {
    if (convert === undefined) continue
    all.push({
      name,
      secret: [false],
      baseline: () => [new RangeError("Maximum call stack size exceeded")],
      form: "sync",
      compat: (args) => convert(args[0]),
      expect: (u) => u instanceof compat.CompatError ? undefined : `${name} returned ${describe(u)}, not a CompatError`
    })
  }
  return all
}
