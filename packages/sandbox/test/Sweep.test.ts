/**
 * The sweep of @wxauth/sandbox's public API (test-support's `Sweep`): every exported function
 * (make, layer, layerServer, layerConfigFile, loadOptions, loadOptionsFile, sampleAuthorizeUrl,
 * MessageCrypto's three), their options field by field (an app's, a user's, a platform's too), and
 * every method of the service: each hostile value in each place, the others valid. No throw, no
 * defect, no hang, a tagged error (`SandboxError`), and no app secret, platform token or AES key
 * in an error, a span or a log line. A function without a row fails the sweep.
 */
import { assert, describe, it } from "@effect/vitest"
import * as SandboxModule from "@wxauth/sandbox"
import { type Findings, orThrown, publicFunctions, type Row, sweep } from "@wxauth/test-support"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

const { MessageCrypto, Sandbox } = SandboxModule

const PLATFORM = {
  componentAppId: "wxcomponentsweep02",
  componentAppSecret: "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
  token: "sweepplatformtoken",
  encodingAesKey: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ",
  authorizers: [{ appId: "wxsweepauthorizer1", kind: "officialAccount" as const }]
}

/** Classes and tags are built, not called. */
const isFunctionOfOurs = (f: unknown): f is Function =>
  typeof f === "function" && !/^class[\s{]/.test(Function.prototype.toString.call(f)) &&
  typeof (f as any).ast !== "object" && !(typeof (f as any).key === "string" && "Service" in f)

describe("sweep: every public function of @wxauth/sandbox against hostile JavaScript callers", () => {
  it.live(
    "no throw, no defect, no hang, a tagged error, no secret in errors, spans or logs",
    () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const oa = Sandbox.defaultApps.officialAccount
        const mini = Sandbox.defaultApps.miniProgram
        const options = { apps: [oa, mini], components: [PLATFORM] }
        const sandbox = yield* Effect.provide(
          Sandbox.Sandbox,
          yield* Layer.buildWithScope(Sandbox.layer(options), scope)
        )
        const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "wxauth-sweep-"))
        const file = Path.join(dir, "sandbox.json")
        Fs.writeFileSync(file, JSON.stringify({ apps: [oa] }))
        const secrets = [oa.secret, mini.secret, PLATFORM.componentAppSecret, PLATFORM.token, PLATFORM.encodingAesKey]
        const encrypted = yield* MessageCrypto.encrypt({
          encodingAesKey: PLATFORM.encodingAesKey,
          appId: PLATFORM.componentAppId,
          message: "<xml></xml>"
        })
        const rows: Record<string, { args: ReadonlyArray<unknown>; skip?: ReadonlyArray<number> }> = {
          "MessageCrypto.signature": {
            args: [{ token: PLATFORM.token, timestamp: "1700000000", nonce: "n", encrypt: encrypted }]
          },
          "MessageCrypto.encrypt": {
            args: [{
              encodingAesKey: PLATFORM.encodingAesKey,
              appId: PLATFORM.componentAppId,
              message: "<xml></xml>",
              random: new Uint8Array(16)
            }]
          },
          "MessageCrypto.decrypt": { args: [{ encodingAesKey: PLATFORM.encodingAesKey, encrypt: encrypted }] },
          "Sandbox.make": { args: [{ ...options, users: Sandbox.defaultUsers, limits: {} }] },
          // bad options are a defect of layer by its contract (make, swept, gives the SandboxError)
          "Sandbox.layer": { args: [options], skip: [0] },
          "Sandbox.layerServer": { args: [{ port: 0, host: "127.0.0.1" }] },
          "Sandbox.layerConfigFile": { args: [file] },
          "Sandbox.loadOptions": { args: [JSON.stringify({ apps: [oa] })] },
          "Sandbox.loadOptionsFile": { args: [file] },
          "Sandbox.sampleAuthorizeUrl": { args: ["http://127.0.0.1:1", oa, "state"] },
          // the service
          "sandbox.openidOf": { args: [oa.appId, "alice"] },
          "sandbox.approve": {
            args: [{
              appId: oa.appId,
              user: "alice",
              scope: "snsapi_base",
              redirectUri: "https://a.example/cb",
              state: "s"
            }]
          },
          "sandbox.miniProgramLogin": { args: [{ appId: mini.appId, user: "alice" }] },
          "sandbox.encryptUserData": { args: [{ appId: mini.appId, user: "alice", watermarkAppId: mini.appId }] },
          "sandbox.phoneNumberCode": { args: [{ appId: mini.appId, user: "alice" }] },
          "sandbox.revokeAppToken": { args: [{ appId: oa.appId }] },
          "sandbox.appTokenUsage": { args: [{ appId: oa.appId }] },
          "sandbox.componentPush": {
            args: [{ componentAppId: PLATFORM.componentAppId, infoType: "authorized", appId: "wxsweepauthorizer1" }]
          },
          "sandbox.pushTicket": { args: [{ componentAppId: PLATFORM.componentAppId }] },
          "sandbox.authorize": { args: [{ componentAppId: PLATFORM.componentAppId, appId: "wxsweepauthorizer1" }] },
          "sandbox.updateAuthorization": {
            args: [{ componentAppId: PLATFORM.componentAppId, appId: "wxsweepauthorizer1" }]
          },
          "sandbox.unauthorize": { args: [{ componentAppId: PLATFORM.componentAppId, appId: "wxsweepauthorizer1" }] },
          "sandbox.componentPushes": { args: [{ componentAppId: PLATFORM.componentAppId }] },
          "sandbox.componentTokenUsage": { args: [{ componentAppId: PLATFORM.componentAppId }] },
          "sandbox.setComponentIpWhitelist": { args: [{ componentAppId: PLATFORM.componentAppId, refuse: false }] },
          "sandbox.revokeAuthorizerRefreshToken": {
            args: [{ componentAppId: PLATFORM.componentAppId, appId: "wxsweepauthorizer1" }]
          },
          "sandbox.revokeComponentToken": { args: [{ componentAppId: PLATFORM.componentAppId }] },
          "sandbox.injectFault": {
            args: [{ endpoint: "access_token", kind: "errcode", errcode: -1, times: 1, afterEffect: false }]
          },
          "sandbox.advanceClock": { args: ["1 second"] },
          "sandbox.handle": {
            args: [{
              method: "GET",
              url:
                `/sns/oauth2/access_token?appid=${oa.appId}&secret=${oa.secret}&code=x&grant_type=authorization_code`,
              headers: { accept: "application/json" },
              body: ""
            }]
          }
        }
        const targets = publicFunctions(SandboxModule, { sandbox }, isFunctionOfOurs)
        const missing = targets.map(([name]) => name).filter((name) => !(name in rows))
        assert.deepStrictEqual(missing, [], "every public function has a row")
        // sampleAuthorizeUrl gives a string or throws (a caller's toString's own throw, a Symbol)
        const swept: Array<Row> = targets.map(([name, f, self]) => ({
          name,
          call: name === "Sandbox.sampleAuthorizeUrl" || name === "sandbox.openidOf"
            ? orThrown(f, self)
            : name === "sandbox.advanceClock"
            // a duration that is no duration, or too long, is a defect by its contract (its message)
            ? (...args) =>
              Effect.catchSomeDefect(f.apply(self, args) as Effect.Effect<void>, (defect) =>
                String(defect).includes("Sandbox.advanceClock")
                  ? Option.some(Effect.fail(new Sandbox.SandboxError({ message: "advanceClock" })))
                  : Option.none())
            : name === "Sandbox.layerServer"
            ? (...args) =>
              Layer.provide(f.apply(self, args), Sandbox.layer())
            : (...args) => f.apply(self, args),
          args: rows[name].args,
          skip: rows[name].skip
        }))
        swept.push(
          {
            name: "Sandbox.make({ apps: [app] })",
            call: (app) => Sandbox.make({ apps: [app] }),
            args: [{
              ...oa,
              wrongSecretErrcode: 40001,
              redirectDomains: ["a.example", "127.0.0.1:3000"],
              unionidOnRefresh: false
            }]
          },
          {
            name: "Sandbox.make({ users: [user] })",
            call: (user) => Sandbox.make({ users: [user] }),
            args: [{ ...Sandbox.defaultUsers[0] }]
          },
          {
            name: "Sandbox.make({ components: [platform] })",
            call: (platform) => Sandbox.make({ components: [platform] }),
            args: [{ ...PLATFORM, pushInterval: false }]
          }
        )
        const findings: Findings = { calls: 0, problems: [], invalidRows: process.env.SWEEP_DUMP ? [] : undefined }
        yield* sweep({
          rows: swept,
          // the sandbox's own secrets answer its own handle() calls: only the errors, spans and logs count
          secrets,
          provide: <A, E>(effect: Effect.Effect<A, E, any>) => effect as Effect.Effect<A, E>,
          findings
        })
        yield* Scope.close(scope, Exit.void)
        Fs.rmSync(dir, { recursive: true, force: true })
        console.log(
          `sandbox sweep: ${swept.length} rows, ${findings.calls} calls, ${findings.problems.length} problems`
        )
        if (process.env.SWEEP_DUMP) {
          Fs.writeFileSync(
            process.env.SWEEP_DUMP,
            [...findings.problems, "--- rows", ...findings.invalidRows ?? []].join("\n")
          )
        }
        assert.deepStrictEqual(findings.problems.slice(0, 40), [], `${findings.problems.length} problems`)
        assert.isAbove(findings.calls, 2000)
      }),
    1_200_000
  )
})
