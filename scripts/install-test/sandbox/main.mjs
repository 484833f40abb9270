// @wxauth/sandbox as installed from its README: a real server on a free port, used over HTTP as a
// browser and a backend use WeChat (consent page, consent form, code exchange, profile), and its CLI.
/* global fetch */
import { Sandbox, SandboxServer } from "@wxauth/sandbox"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Assert from "node:assert/strict"
import { execFileSync } from "node:child_process"

const app = Sandbox.defaultApps.officialAccount
const ServerLive = Sandbox.layerServer({ port: 0 }).pipe(Layer.provideMerge(Sandbox.layer()))

const json = async (response) => {
  Assert.equal(response.status, 200)
  return response.json()
}

const program = Effect.gen(function*() {
  const { url } = yield* SandboxServer.SandboxServer
  return yield* Effect.promise(async () => {
    const redirectUri = "https://example.com/cb"
    const query = new URLSearchParams({
      appid: app.appId,
      redirect_uri: redirectUri,
      response_type: "code",
      scope: "snsapi_userinfo",
      state: "xyz"
    })
    const page = await fetch(`${url}/connect/oauth2/authorize?${query}`)
    Assert.equal(page.status, 200)
    Assert.match(await page.text(), /id="user-bob"/)
    const consent = await fetch(`${url}/connect/oauth2/authorize`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams([...query, ["user", "bob"], ["decision", "allow"]]),
      redirect: "manual"
    })
    Assert.equal(consent.status, 302)
    const location = new URL(consent.headers.get("location"))
    Assert.equal(location.origin + location.pathname, redirectUri)
    Assert.equal(location.searchParams.get("state"), "xyz")
    const code = location.searchParams.get("code")
    const exchange = new URLSearchParams({
      appid: app.appId,
      secret: app.secret,
      code,
      grant_type: "authorization_code"
    })
    const token = await json(await fetch(`${url}/sns/oauth2/access_token?${exchange}`))
    Assert.equal(token.expires_in, 7200)
    const again = await json(await fetch(`${url}/sns/oauth2/access_token?${exchange}`))
    Assert.equal(again.errcode, 40163) // a code is single-use
    const user = await json(
      await fetch(
        `${url}/sns/userinfo?${new URLSearchParams({ access_token: token.access_token, openid: token.openid })}`
      )
    )
    Assert.equal(user.nickname, "李四")
    return user.nickname
  })
}).pipe(Effect.provide(ServerLive))

const nickname = await Effect.runPromise(program)

// the CLI, as `npx wxauth-sandbox` runs it
const help = execFileSync("node_modules/.bin/wxauth-sandbox", ["--help"], { encoding: "utf8" })
Assert.match(help, /--port/)
console.log(`@wxauth/sandbox: ${nickname} logged in over HTTP; wxauth-sandbox --help works`)
