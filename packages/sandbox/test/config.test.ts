import { assert, describe, it } from "@effect/vitest"
import { Sandbox } from "@wxauth/sandbox"
import * as Effect from "effect/Effect"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"

describe("defaults", () => {
  it("documents three apps with WeChat-shaped appids and 32-hex secrets", () => {
    const apps = Object.values(Sandbox.defaultApps)
    assert.deepStrictEqual(apps.map((app) => app.kind), ["officialAccount", "website", "miniProgram"])
    for (const app of apps) {
      assert.match(app.appId, /^wx[a-z0-9]{16}$/)
      assert.match(app.secret, /^[0-9a-f]{32}$/)
    }
    assert.strictEqual(new Set(apps.map((app) => app.secret)).size, 3)
  })

  it("has at least three users, alice first, with distinct unionids", () => {
    assert.isAtLeast(Sandbox.defaultUsers.length, 3)
    assert.strictEqual(Sandbox.defaultUsers[0].id, "alice")
    assert.strictEqual(Sandbox.defaultUsers[0].nickname, "张三")
    assert.strictEqual(new Set(Sandbox.defaultUsers.map((user) => user.unionid)).size, Sandbox.defaultUsers.length)
  })
})

describe("make", () => {
  it.effect("uses the given apps and users in place of the defaults", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.make({
        apps: [{ appId: "wxmyapp", secret: "s3cret", kind: "officialAccount", name: "Mine", bound: false }],
        users: [{ ...Sandbox.defaultUsers[1], id: "zoe" }]
      })
      assert.deepStrictEqual(sandbox.apps.map((app) => app.appId), ["wxmyapp"])
      assert.deepStrictEqual(sandbox.users.map((user) => user.id), ["zoe"])
      const url = yield* sandbox.approve({
        appId: "wxmyapp",
        user: "zoe",
        scope: "snsapi_base",
        redirectUri: "http://localhost:3000/cb"
      })
      assert.match(url, /^http:\/\/localhost:3000\/cb\?code=[A-Za-z0-9]{32}&state=$/)
      const error = yield* Effect.flip(sandbox.approve({
        appId: Sandbox.defaultApps.officialAccount.appId,
        user: "zoe",
        scope: "snsapi_base",
        redirectUri: "http://localhost:3000/cb"
      }))
      assert.match(error.message, /unknown app/)
    }))

  const bad: ReadonlyArray<[string, unknown, RegExp]> = [
    ["a duplicate appId", { apps: [Sandbox.defaultApps.website, Sandbox.defaultApps.website] }, /appears twice/],
    ["a duplicate user id", { users: [Sandbox.defaultUsers[0], Sandbox.defaultUsers[0]] }, /appears twice/],
    ["no apps", { apps: [] }, /at least one app/],
    ["no users", { users: [] }, /at least one user/],
    ["a user id with a space", { users: [{ ...Sandbox.defaultUsers[0], id: "a b" }] }, /users\.0\.id/],
    [
      "an unknown app kind",
      { apps: [{ ...Sandbox.defaultApps.website, kind: "app" }] },
      /apps\.0\.kind: must be one of/
    ]
  ]
  for (const [name, options, message] of bad) {
    it.effect(`fails with SandboxError for ${name}`, () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Sandbox.make(options as Sandbox.SandboxOptions))
        assert.instanceOf(error, Sandbox.SandboxError)
        assert.match(error.message, message)
      }))
  }
})

describe("loadOptions", () => {
  it.effect("reads a JSON config, filling in optional fields", () =>
    Effect.gen(function*() {
      const options = yield* Sandbox.loadOptions(JSON.stringify({
        apps: [{ appId: "wxmyapp", secret: "s3cret", kind: "website" }],
        users: [{ id: "zoe", nickname: "赵六" }]
      }))
      assert.deepStrictEqual(options.apps, [{
        appId: "wxmyapp",
        secret: "s3cret",
        kind: "website",
        name: "wxmyapp",
        bound: false
      }])
      const zoe = options.users![0]
      assert.strictEqual(zoe.nickname, "赵六")
      assert.strictEqual(zoe.sex, 0)
      assert.match(zoe.unionid, /^o[A-Za-z0-9_-]{27}$/)
      const sandbox = yield* Sandbox.make(options)
      assert.strictEqual(sandbox.users[0].id, "zoe")
    }))

  it.effect("keeps the default users when the config only lists apps", () =>
    Effect.gen(function*() {
      const options = yield* Sandbox.loadOptions(`{"apps":[{"appId":"wxa","secret":"s","kind":"miniProgram"}]}`)
      assert.isUndefined(options.users)
      const sandbox = yield* Sandbox.make(options)
      assert.strictEqual(sandbox.users.length, Sandbox.defaultUsers.length)
    }))

  const bad: ReadonlyArray<[string, string, RegExp]> = [
    ["broken JSON", `{"apps": [`, /^bad sandbox config: not valid JSON/],
    ["a JSON array", `[]`, /expected a JSON object/],
    ["an unknown top-level key", `{"app": []}`, /app: is unexpected/],
    [
      "an empty secret",
      `{"apps":[{"appId":"wxa","secret":"","kind":"website"}]}`,
      /apps\.0\.secret: must not be empty/
    ],
    ["a wrong sex", `{"users":[{"id":"a","nickname":"A","sex":3}]}`, /users\.0\.sex: must be one of 0, 1, 2/]
  ]
  for (const [name, json, message] of bad) {
    it.effect(`fails with one clear line for ${name}`, () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Sandbox.loadOptions(json))
        assert.instanceOf(error, Sandbox.SandboxError)
        assert.match(error.message, message)
        assert.notInclude(error.message, "\n")
      }))
  }

  it.effect("layerConfigFile reads a file; a missing file is a SandboxError", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.promise(() => Fs.mkdtemp(Path.join(Os.tmpdir(), "wxauth-sandbox-")))
      const file = Path.join(dir, "apps.json")
      yield* Effect.promise(() =>
        Fs.writeFile(file, JSON.stringify({ apps: [{ appId: "wxfile", secret: "s", kind: "officialAccount" }] }))
      )
      const apps = yield* Effect.map(Sandbox.Sandbox, (sandbox) => sandbox.apps.map((app) => app.appId)).pipe(
        Effect.provide(Sandbox.layerConfigFile(file))
      )
      assert.deepStrictEqual(apps, ["wxfile"])
      const error = yield* Effect.flip(Sandbox.loadOptionsFile(Path.join(dir, "missing.json")))
      assert.match(error.message, /cannot read sandbox config .*missing\.json: no such file/)
      yield* Effect.promise(() => Fs.rm(dir, { recursive: true }))
    }))
})
