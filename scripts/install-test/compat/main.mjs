// @wxauth/compat from an ES module: the default and named exports, a login with promises.
import OAuth, { OAuth as Named } from "@wxauth/compat"
import * as Assert from "node:assert/strict"
import { app, start } from "./sandbox.mjs"

Assert.equal(Named, OAuth)
const sandbox = await start()
try {
  const client = new OAuth(app.appId, app.secret)
  client.setOpts({ apiBaseUrl: sandbox.url, openBaseUrl: sandbox.url })
  const user = await client.getUserByCode(await sandbox.code("alice"))
  Assert.equal(user.nickname, "张三")
  console.log(`@wxauth/compat (import): ${user.nickname} logged in`)
} finally {
  await sandbox.stop()
}
