/**
 * A signed OAuth `state` that needs no cookie (WeChat's in-app browser drops them): the state itself
 * carries when it was made, when it expires, an optional return path and an optional browser
 * binding, all under an HMAC-SHA256 keyed with the config's `stateSecret` and bound to its appid.
 *
 * It fits WeChat's rule for `state`, `[a-zA-Z0-9]{1,128}`: the bytes below are written in base62
 * (`0-9A-Za-z`, a fixed number of digits per byte length, at most 95 bytes in 128 characters).
 *
 * | bytes | field |
 * |---|---|
 * | 1 | header: version 1 in the high nibble, bit 0 set when a binding follows, bit 1 when an appid follows |
 * | 4 | issued at, epoch seconds (unsigned, big-endian) |
 * | 4 | expires at, epoch seconds |
 * | 8 | random nonce |
 * | 9 or 1+n | the appid (only with bit 1, `carryAppId`): the byte 0 then 8 bytes for an appid of WeChat's usual form, `wx` and 16 lowercase hex digits (the digits packed); otherwise its length n (1 to 64) then its n ASCII bytes |
 * | 8 | browser binding: HMAC-SHA256(stateSecret, appid + binding), truncated (only when bound) |
 * | n | return path, UTF-8 (may be empty: no return path) |
 * | 16 | MAC: HMAC-SHA256(stateSecret, domain + appid + all bytes above), truncated |
 *
 * So a state is 45 characters without return path or binding, 56 with a binding, and never more than
 * 128: the return path may take up to 62 UTF-8 bytes (`maxReturnToBytes`), 54 when bound
 * (`maxReturnToBytesWithBinding`), and the appid's bytes fewer when the state carries it
 * (`maxReturnToBytesFor`).
 *
 * The appid field is for a service of many apps (`WeChatApps`): its callback finds the app from the
 * state alone, then verifies the state for that app. It is under the MAC like every other byte, and
 * the MAC is keyed by the app it names, so a state cannot be moved to another app. A state without
 * it (bit 1 clear, the layout of version 1 before the field existed) verifies exactly as before.
 *
 * The return path is checked when the state is made and again when it is verified: it must be a path
 * on the same site (it starts with `/`, not with `//` or `/\`, holds no control characters, and does
 * not start with `//` once its dot segments are resolved, as `normalizeReturnTo` resolves them), so a
 * state cannot be used for an open redirect. The rule is `normalizeReturnTo`'s: a return path it
 * refuses as off-site is refused by `make` and is `Malformed` in a state; one it accepts (`/a/../b`,
 * `/订单`) is carried and given back as it was given.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Crypto from "node:crypto"
import * as Arguments from "./internal/arguments.js"
import * as Base62 from "./internal/base62.js"
import { guardOr } from "./internal/guard.js"
import * as StateTtl from "./internal/stateTtl.js"
import * as StoreIds from "./internal/storeIds.js"
import * as WeChatConfig from "./WeChatConfig.js"
import { InvalidArgument, StateMismatch } from "./WeChatError.js"

/**
 * The part of the configuration that states need: the appid they are bound to, the key that signs
 * them, and their default lifetime.
 *
 * @since 0.1.0
 * @category models
 */
export type StateConfig = Pick<
  WeChatConfig.WeChatConfigShape,
  "appId" | "stateSecret" | "stateTtl" | "acceptedStateSecrets"
>

/**
 * Options of `make` / `makeSync`.
 *
 * @since 0.1.0
 * @category models
 */
export interface MakeOptions {
  /**
   * Where to send the user after login: a path on this site, such as `/orders?id=7`. Not a URL with a
   * scheme or host, nor a path that resolves to `//host` (`/.//evil.com`): open-redirect protection,
   * the rule of `normalizeReturnTo`. At most `maxReturnToBytes` UTF-8 bytes
   * (`maxReturnToBytesWithBinding` with a binding).
   */
  readonly returnTo?: string | undefined
  /**
   * A per-browser value, e.g. a cookie's value. Only its keyed hash goes into the state; `verify`
   * then requires the same value.
   */
  readonly binding?: string | undefined
  /**
   * How long the state stays valid: a positive duration of at most `WeChatConfig.maxStateTtl` (1
   * day), as the config's `stateTtl`. Default: the config's `stateTtl` (10 minutes).
   */
  readonly ttl?: Duration.DurationInput | undefined
  /**
   * Writes the config's appid into the state (under the MAC), so that a callback shared by many
   * apps can find its app from the state (`appIdOf`) before verifying it for that app. Default false.
   */
  readonly carryAppId?: boolean | undefined
}

/**
 * Options of `verify` / `verifySync`.
 *
 * @since 0.1.0
 * @category models
 */
export interface VerifyOptions {
  /**
   * The per-browser value of this request (e.g. the cookie's value). Required when the state was made
   * with a binding; a state made without one ignores it (its `bindingHash` is then `undefined`).
   */
  readonly binding?: string | undefined
}

/**
 * What a verified state says.
 *
 * @since 0.1.0
 * @category models
 */
export interface Verified {
  /** The return path given to `make`, checked again. */
  readonly returnTo: string | undefined
  /** When the state was made, epoch milliseconds (whole seconds). */
  readonly issuedAt: number
  /** When the state stops being valid, epoch milliseconds (whole seconds). */
  readonly expiresAt: number
  /** The keyed hash of the binding (as `bindingHash` returns it), when the state is bound. */
  readonly bindingHash: string | undefined
  /** The appid the state carries (made with `carryAppId`), which is the verifying config's. */
  readonly appId?: string | undefined
}

/**
 * The longest state WeChat accepts, in characters.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxLength = 128

/**
 * How far, in milliseconds, a state's issue time may lie ahead of the verifying clock: 5 minutes, or
 * the state's own lifetime when that is shorter. A state is accepted from its issue time minus this
 * allowance until it expires, so for at most its lifetime plus the allowance in all, however far a
 * clock is stepped back: a state made at T with the 10-minute default verifies from T - 5 min to
 * T + 10 min. The allowance absorbs clock skew between the server that makes a state and the one
 * that verifies it (a few seconds with NTP); a state whose issue time is further ahead is refused
 * as `Expired`.
 *
 * @since 0.2.0
 * @category constants
 */
export const clockSkewAllowance = 5 * 60 * 1000

const version = 1
const flagBound = 0x01
const flagAppId = 0x02
const flags = flagBound | flagAppId
const headerSize = 1
const timeSize = 4
const nonceSize = 8
const bindingSize = 8
const macSize = 16
const fixedSize = headerSize + 2 * timeSize + nonceSize + macSize
const maxBytes = Base62.maxBytesFor(maxLength)

/**
 * The longest return path (in UTF-8 bytes) a state without binding can carry.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxReturnToBytes: number = maxBytes - fixedSize

/**
 * The longest return path (in UTF-8 bytes) a state with a binding can carry.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxReturnToBytesWithBinding: number = maxBytes - fixedSize - bindingSize

/** The appid's bytes in a state: packed `wx` + 16 hex digits (a marker byte and 8 bytes), or a length byte and ASCII. */
const packedAppId = /^wx[0-9a-f]{16}$/
// the apps' and the stores' rule of an appid, in one place
const appIdPattern = StoreIds.appIdPattern
const packedAppIdSize = 9

const appIdSize = (appId: string): number => packedAppId.test(appId) ? packedAppIdSize : 1 + appId.length

const writeAppId = (bytes: Buffer, offset: number, appId: string): number => {
  if (packedAppId.test(appId)) {
    bytes.writeUInt8(0, offset)
    return offset + 1 + bytes.write(appId.slice(2), offset + 1, "hex")
  }
  bytes.writeUInt8(appId.length, offset)
  return offset + 1 + bytes.write(appId, offset + 1, "latin1")
}

/** The appid at `offset` and the offset after it; `undefined` when the bytes are not one. */
const readAppId = (bytes: Buffer, offset: number, end: number): readonly [string, number] | undefined => {
  if (offset >= end) return undefined
  const length = bytes.readUInt8(offset)
  const size = length === 0 ? packedAppIdSize : 1 + length
  if (offset + size > end) return undefined
  const appId = length === 0
    ? "wx" + bytes.toString("hex", offset + 1, offset + packedAppIdSize)
    : bytes.toString("latin1", offset + 1, offset + size)
  // one encoding per appid: a packable one written long is malformed, as is anything WeChatConfig refuses
  if (!appIdPattern.test(appId) || (length !== 0 && packedAppId.test(appId))) return undefined
  return [appId, offset + size]
}

/**
 * The longest return path (in UTF-8 bytes) a state can carry, with a binding or not, and carrying
 * `appId` when it is given (`carryAppId`).
 *
 * @since 0.1.0
 * @category constants
 */
export const maxReturnToBytesFor = (options: {
  readonly bound: boolean
  readonly appId?: string | undefined
}): number => {
  // options that cannot be read (a revoked Proxy) are none
  const bound = guardOr(() => typeof options === "object" && options !== null && options.bound === true, false)
  const appId: unknown = guardOr(
    () => typeof options === "object" && options !== null ? options.appId : undefined,
    undefined
  )
  const carried = typeof appId === "string" && appIdPattern.test(appId) ? appIdSize(appId) : 0
  return Math.max(0, maxBytes - fixedSize - (bound ? bindingSize : 0) - carried)
}

const macDomain = Buffer.from("wxauth/state/v1/mac\0", "utf8")
const bindingDomain = Buffer.from("wxauth/state/v1/binding\0", "utf8")
const maxSeconds = 0xffffffff
const alphabet = /^[A-Za-z0-9]+$/
const probeOrigin = "https://wxauth.invalid"
const utf8 = new TextEncoder()
const strictUtf8 = new TextDecoder("utf-8", { fatal: true })

/** What a state is made and verified with: a caller's config, each field read once. */
interface Keyed {
  readonly appId: string
  readonly key: Uint8Array
  readonly acceptedStateSecrets: unknown
  readonly stateTtl: unknown
}

/**
 * `config`'s fields, each read once and guarded: a config that throws when looked at (a revoked
 * Proxy) or has no key is none, and a getter that answers otherwise on a second read is never read
 * twice. An accepted-secrets list or a lifetime that cannot be read is none.
 */
const keyedOf = (config: unknown): Keyed | undefined =>
  guardOr(() => {
    if (typeof config !== "object" || config === null) return undefined
    const appId: unknown = (config as StateConfig).appId
    const secret: unknown = (config as StateConfig).stateSecret
    if (typeof appId !== "string" || !Redacted.isRedacted(secret)) return undefined
    const key: unknown = Redacted.value(secret)
    if (!(key instanceof Uint8Array)) return undefined
    return {
      appId,
      key,
      acceptedStateSecrets: guardOr(() => (config as StateConfig).acceptedStateSecrets, undefined),
      stateTtl: guardOr(() => (config as StateConfig).stateTtl, undefined)
    }
  }, undefined)

/**
 * The keys a state of `config` may be signed with: `stateSecret`'s first, then the accepted ones
 * (a rotation's). Entries that are not keys are passed over; a list that cannot be read is none.
 */
const verifyingKeys = (config: Keyed): ReadonlyArray<Uint8Array> => {
  const current = config.key
  return guardOr(() => {
    const accepted: unknown = config.acceptedStateSecrets
    if (!Array.isArray(accepted) || accepted.length === 0) return [current]
    const keys = [current]
    for (const secret of accepted.slice(0, 4)) {
      if (Redacted.isRedacted(secret)) {
        const key: unknown = Redacted.value(secret)
        if (key instanceof Uint8Array) keys.push(key)
      }
    }
    return keys
  }, [current])
}

const computeMac = (key: Uint8Array, appId: string, signed: Uint8Array): Buffer =>
  Crypto.createHmac("sha256", key)
    .update(macDomain)
    .update(appId)
    .update("\0")
    .update(signed)
    .digest()
    .subarray(0, macSize)

const bindingBytes = (key: Uint8Array, appId: string, binding: string): Buffer =>
  Crypto.createHmac("sha256", key)
    .update(bindingDomain)
    .update(appId)
    .update("\0")
    .update(binding, "utf8")
    .digest()
    .subarray(0, bindingSize)

/**
 * The keyed hash of a per-browser value, as a state made with `binding` carries it and `verify`
 * returns it (16 hex characters). Compare two of them with `equals`.
 *
 * @since 0.1.0
 * @category utils
 */
export const bindingHash = (config: Pick<StateConfig, "appId" | "stateSecret">, binding: string): string => {
  // A JavaScript caller's mistake never throws and never matches a real binding: a binding that is
  // not a string hashes as its type and text; without a usable config the hash is random.
  const keyed = keyedOf(config)
  if (keyed === undefined) return Crypto.randomBytes(bindingSize).toString("hex") + "!"
  return bindingBytes(
    keyed.key,
    keyed.appId,
    typeof binding === "string"
      ? binding
      : `\u0000${typeof binding}\u0000${guardOr(() => String(binding), "\u0000unreadable")}`
  )
    .toString("hex")
}

/**
 * Compares two strings without leaking where they differ: both are hashed (SHA-256) and the digests
 * compared with `crypto.timingSafeEqual`, so the time taken depends on their lengths only, never on
 * where they differ. Use it to compare a callback's state with an expected one, or two binding hashes.
 *
 * @since 0.1.0
 * @category utils
 */
export const equals = (a: string, b: string): boolean => {
  if (typeof a !== "string" || typeof b !== "string") return false
  const left = Crypto.createHash("sha256").update(a, "utf8").digest()
  const right = Crypto.createHash("sha256").update(b, "utf8").digest()
  return Crypto.timingSafeEqual(left, right)
}

/** Browsers drop tabs and newlines from URLs, so `/\t/evil.com` would become `//evil.com`. */
const hasControlCharacter = (text: string): boolean => {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code < 0x20 || code === 0x7f) return true
  }
  return false
}

/**
 * Why `returnTo` is not an acceptable return path, or `undefined` when it is.
 */
const returnToProblem = (returnTo: string): string | undefined => {
  if (!returnTo.startsWith("/")) return "must be a path on this site, starting with /"
  if (returnTo.startsWith("//") || returnTo.startsWith("/\\")) {
    return "must not start with // or /\\ (browsers read it as another host)"
  }
  if (hasControlCharacter(returnTo)) return "must not contain control characters"
  let resolved: URL
  try {
    resolved = new URL(returnTo, probeOrigin)
  } catch {
    return "is not a valid path"
  }
  if (resolved.origin !== probeOrigin) return "must stay on this site"
  // dot segments resolved (`/.//evil.com`, `/a/..//evil.com`, `/%2e//evil.com`) and backslashes read
  // as slashes: a framework or proxy that normalises the path would send the browser to that host
  if (resolved.pathname.startsWith("//")) {
    return "must not resolve to a path starting with // (its dot segments resolved: browsers read it as another host)"
  }
  return undefined
}

/**
 * A return path as a browser would request it (dot segments resolved, characters outside ASCII
 * percent-encoded, so it fits in a `Location` header), or `undefined` when it is not a path on this
 * site or does not fit in a state (with a binding when `bound`, the default). Use it on a `returnTo`
 * query parameter before passing it to `authorizeUrl`. For a path that does not travel in a state
 * (where a login lands after it, a home page), `maxBytes` replaces the state's size (a positive
 * integer; any other value is ignored).
 *
 * @example
 * ```ts
 * import { StateToken } from "@wxauth/core"
 *
 * StateToken.normalizeReturnTo("/a/../orders?id=7") // "/orders?id=7"
 * StateToken.normalizeReturnTo("//evil.example/") // undefined
 * // not for a state: where a login lands, up to 2,048 bytes
 * StateToken.normalizeReturnTo("/products/detail?id=1234567890&utm_source=wechat&utm_medium=share", {
 *   maxBytes: 2048
 * })
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const normalizeReturnTo = (
  value: unknown,
  options?: { readonly bound?: boolean | undefined; readonly maxBytes?: number | undefined }
): string | undefined => {
  if (typeof value !== "string" || value.length > 8192 || returnToProblem(value) !== undefined) return undefined
  let normalized: string
  try {
    const url = new URL(value, probeOrigin)
    if (url.origin !== probeOrigin) return undefined
    normalized = url.pathname + url.search + url.hash
  } catch {
    return undefined
  }
  const given = guardOr(() => options?.maxBytes, undefined)
  const max = typeof given === "number" && Number.isSafeInteger(given) && given > 0
    ? given
    : guardOr(() => options?.bound, undefined) === false
    ? maxReturnToBytes
    : maxReturnToBytesWithBinding
  return returnToProblem(normalized) === undefined && Buffer.byteLength(normalized, "utf8") <= max
    ? normalized
    : undefined
}

const invalid = (argument: string, description: string) => Either.left(new InvalidArgument({ argument, description }))

const encodeReturnTo = (
  returnTo: unknown,
  bound: boolean,
  appId: string | undefined
): Either.Either<Uint8Array, InvalidArgument> => {
  if (returnTo === undefined) return Either.right(new Uint8Array(0))
  if (typeof returnTo !== "string") return invalid("returnTo", "the return path must be a string")
  const problem = returnToProblem(returnTo)
  if (problem !== undefined) return invalid("returnTo", `the return path ${problem}`)
  const bytes = utf8.encode(returnTo)
  let wellFormed = true
  try {
    wellFormed = strictUtf8.decode(bytes) === returnTo
  } catch {
    wellFormed = false
  }
  if (!wellFormed) return invalid("returnTo", "the return path is not well-formed Unicode")
  const max = maxReturnToBytesFor({ bound, appId })
  if (bytes.length > max) {
    return invalid(
      "returnTo",
      `the return path is ${bytes.length} bytes in UTF-8; a state${bound ? " with a binding" : ""}${
        appId === undefined ? "" : `${bound ? " and" : " with"} its appid`
      } carries at most ${max} (WeChat limits state to ${maxLength} characters)`
    )
  }
  return Either.right(bytes)
}

/** The lifetime's milliseconds when it follows the config's rule for `stateTtl` (internal/stateTtl.ts). */
const ttlMillis = (config: Keyed, ttl: Duration.DurationInput | undefined): number | undefined =>
  Option.getOrUndefined(Option.map(StateTtl.of(ttl === undefined ? config.stateTtl : ttl), Duration.toMillis))

/**
 * Makes a state at time `now` (epoch milliseconds) for the given configuration, without an Effect
 * context: for the compat layer and hot paths. The nonce comes from `node:crypto`'s CSPRNG.
 *
 * Fails with `InvalidArgument` when `returnTo` is not a path on this site or does not fit, when
 * `binding` is empty, or when `ttl` (or the config's `stateTtl`) is not a positive duration of at
 * most `WeChatConfig.maxStateTtl` (1 day).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeSync = (
  config: StateConfig,
  now: number,
  given?: MakeOptions | undefined
): Either.Either<string, InvalidArgument> => {
  const keyed = keyedOf(config)
  if (keyed === undefined) return invalid("config", "must be a WeChatConfig (appId and stateSecret)")
  if (!(typeof now === "number" && Number.isFinite(now) && now >= 0)) {
    return invalid("now", "the time must be a non-negative epoch in milliseconds")
  }
  // read once, guarded: a throwing getter or a revoked Proxy is an InvalidArgument
  const read = Arguments.readFields(given, ["binding", "carryAppId", "returnTo", "ttl"])
  if (Either.isLeft(read)) return invalid("options", read.left)
  const options = read.right as MakeOptions | undefined
  const binding: unknown = options?.binding
  if (binding !== undefined && (typeof binding !== "string" || binding === "")) {
    return invalid("binding", "the binding must be a non-empty string")
  }
  const bound = binding !== undefined
  const carryAppId: unknown = options?.carryAppId
  if (carryAppId !== undefined && typeof carryAppId !== "boolean") {
    return invalid("carryAppId", "must be a boolean")
  }
  const appId = carryAppId === true ? keyed.appId : undefined
  if (appId !== undefined && !appIdPattern.test(appId)) {
    return invalid("config", "the appid to carry must be 1 to 64 characters of [A-Za-z0-9_-]")
  }
  const returnTo = encodeReturnTo(options?.returnTo, bound, appId)
  if (Either.isLeft(returnTo)) return Either.left(returnTo.left)
  const ttl = ttlMillis(keyed, options?.ttl)
  if (ttl === undefined) return invalid("ttl", `the state lifetime must be ${StateTtl.rule}`)
  const issuedAt = Math.floor(now / 1000)
  const expiresAt = Math.ceil((now + ttl) / 1000)
  if (expiresAt > maxSeconds) {
    return invalid("ttl", "the state's expiry must fall before 2106")
  }

  const returnToBytes = returnTo.right
  const size = fixedSize + (appId === undefined ? 0 : appIdSize(appId)) + (bound ? bindingSize : 0) +
    returnToBytes.length
  const bytes = Buffer.alloc(size)
  let offset = bytes.writeUInt8(
    (version << 4) | (bound ? flagBound : 0) | (appId === undefined ? 0 : flagAppId),
    0
  )
  offset = bytes.writeUInt32BE(issuedAt, offset)
  offset = bytes.writeUInt32BE(expiresAt, offset)
  Crypto.randomFillSync(bytes, offset, nonceSize)
  offset += nonceSize
  if (appId !== undefined) offset = writeAppId(bytes, offset, appId)
  if (bound) offset += bindingBytes(keyed.key, keyed.appId, binding as string).copy(bytes, offset)
  bytes.set(returnToBytes, offset)
  offset += returnToBytes.length
  computeMac(keyed.key, keyed.appId, bytes.subarray(0, offset)).copy(bytes, offset)
  return Either.right(Base62.encode(bytes))
}

/**
 * The one freshness rule of a state (epoch milliseconds): it has not expired, and it was not issued
 * later than `now` by more than the allowance, `clockSkewAllowance` capped by the state's own lifetime
 * (`expiresAt - issuedAt`, under the MAC like both times). So a clock stepped back, or a server behind
 * the one that made the state, accepts it for at most its lifetime plus the allowance.
 */
const isFresh = (now: number, issuedAt: number, expiresAt: number): boolean =>
  now < expiresAt && issuedAt - now <= Math.min(clockSkewAllowance, expiresAt - issuedAt)

const mismatch = (reason: StateMismatch["reason"]) => Either.left(new StateMismatch({ reason }))

/**
 * Verifies a state at time `now` (epoch milliseconds) for the given configuration, without an Effect
 * context: for the compat layer and hot paths.
 *
 * A state signed with `stateSecret` or with one of `acceptedStateSecrets` (a rotation's) is
 * verified; states are always made with `stateSecret`.
 *
 * Fails with `StateMismatch` and reason `Malformed` (not a state of this format), `BadSignature`
 * (tampered, or made for another app or with another secret), `Expired` (at or after its expiry, or
 * more than `clockSkewAllowance`, or its lifetime when shorter, before its issue time: a clock stepped
 * back), or `Binding` (the state is bound and `binding` is missing or another browser's).
 *
 * @since 0.1.0
 * @category verification
 */
export const verifySync = (
  config: StateConfig,
  now: number,
  state: string,
  options?: VerifyOptions | undefined
): Either.Either<Verified, StateMismatch> => {
  if (typeof state !== "string" || state.length > maxLength || !alphabet.test(state)) return mismatch("Malformed")
  // without a trusted config nothing can be verified; without a real time nothing is fresh
  const keyed = keyedOf(config)
  if (keyed === undefined) return mismatch("BadSignature")
  if (typeof now !== "number" || !Number.isFinite(now)) return mismatch("Expired")
  const decoded = Base62.decode(state)
  if (decoded === undefined || decoded.length < fixedSize) return mismatch("Malformed")
  const bytes = Buffer.from(decoded.buffer, decoded.byteOffset, decoded.length)
  const header = bytes.readUInt8(0)
  if (header >> 4 !== version || (header & 0x0f & ~flags) !== 0) return mismatch("Malformed")
  const bound = (header & flagBound) !== 0
  const signedEnd = bytes.length - macSize
  let offset = headerSize + 2 * timeSize + nonceSize
  let appId: string | undefined
  if ((header & flagAppId) !== 0) {
    const read = readAppId(bytes, offset, signedEnd)
    if (read === undefined) return mismatch("Malformed")
    appId = read[0]
    offset = read[1]
  }
  if (bound && offset + bindingSize > signedEnd) return mismatch("Malformed")

  // a state that names another app was not made for this config (its MAC would not match either)
  if (appId !== undefined && appId !== keyed.appId) return mismatch("BadSignature")
  // signed with `stateSecret`, or with a secret a rotation still accepts: the binding is that key's too
  const signed = bytes.subarray(0, signedEnd)
  const mac = bytes.subarray(signedEnd)
  const key = verifyingKeys(keyed).find((key) => Crypto.timingSafeEqual(computeMac(key, keyed.appId, signed), mac))
  if (key === undefined) return mismatch("BadSignature")

  const issuedAt = bytes.readUInt32BE(headerSize) * 1000
  const expiresAt = bytes.readUInt32BE(headerSize + timeSize) * 1000
  const stateBinding = bound ? bytes.subarray(offset, offset + bindingSize) : undefined
  if (bound) offset += bindingSize
  const returnToBytes = bytes.subarray(offset, signedEnd)
  let returnTo: string | undefined
  if (returnToBytes.length > 0) {
    try {
      returnTo = strictUtf8.decode(returnToBytes)
    } catch {
      return mismatch("Malformed")
    }
    if (returnToProblem(returnTo) !== undefined) return mismatch("Malformed")
  }
  if (expiresAt < issuedAt) return mismatch("Malformed")

  if (!isFresh(now, issuedAt, expiresAt)) return mismatch("Expired")
  if (stateBinding !== undefined) {
    const binding: unknown = guardOr(
      () => typeof options === "object" && options !== null ? options.binding : undefined,
      undefined
    )
    if (
      typeof binding !== "string" || !Crypto.timingSafeEqual(bindingBytes(key, keyed.appId, binding), stateBinding)
    ) {
      return mismatch("Binding")
    }
  }
  return Either.right({
    returnTo,
    issuedAt,
    expiresAt,
    bindingHash: stateBinding === undefined ? undefined : stateBinding.toString("hex"),
    ...(appId === undefined ? {} : { appId })
  })
}

/**
 * The appid a state carries (made with `carryAppId`), read without verifying anything: `undefined`
 * for a state that carries none or is not a state. Use it only to choose the config to verify the
 * state with (`verifySync`), which then checks the MAC over the appid too.
 *
 * @since 0.1.0
 * @category verification
 */
export const appIdOf = (state: string): string | undefined => {
  if (typeof state !== "string" || state.length > maxLength || !alphabet.test(state)) return undefined
  const decoded = Base62.decode(state)
  if (decoded === undefined || decoded.length < fixedSize) return undefined
  const bytes = Buffer.from(decoded.buffer, decoded.byteOffset, decoded.length)
  const header = bytes.readUInt8(0)
  if (header >> 4 !== version || (header & 0x0f & ~flags) !== 0 || (header & flagAppId) === 0) return undefined
  return readAppId(bytes, headerSize + 2 * timeSize + nonceSize, bytes.length - macSize)?.[0]
}

/**
 * Makes a signed state for the `WeChatConfig` in context, at the `Clock`'s time.
 *
 * @example
 * ```ts
 * import { StateToken } from "@wxauth/core"
 *
 * // in the login route: the state goes into the authorize URL; `browserId` is the value of a
 * // random HttpOnly cookie set on this browser, which the callback must present again
 * const loginState = (browserId: string) => StateToken.make({ returnTo: "/orders?id=7", binding: browserId })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options?: MakeOptions | undefined
): Effect.Effect<string, InvalidArgument, WeChatConfig.WeChatConfig> =>
  Effect.flatMap(
    WeChatConfig.WeChatConfig,
    (config) => Effect.flatMap(Clock.currentTimeMillis, (now) => makeSync(config, now, options))
  ).pipe(Effect.withSpan("StateToken.make", { captureStackTrace: false }))

/**
 * Verifies a callback's state for the `WeChatConfig` in context, at the `Clock`'s time. See
 * `verifySync` for the failure reasons.
 *
 * @since 0.1.0
 * @category verification
 */
export const verify = (
  state: string,
  options?: VerifyOptions | undefined
): Effect.Effect<Verified, StateMismatch, WeChatConfig.WeChatConfig> =>
  Effect.flatMap(
    WeChatConfig.WeChatConfig,
    (config) => Effect.flatMap(Clock.currentTimeMillis, (now) => verifySync(config, now, state, options))
  ).pipe(Effect.withSpan("StateToken.verify", { captureStackTrace: false }))
