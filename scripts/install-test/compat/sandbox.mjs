// A sandbox WeChat on a free port for the compat programs (an ES module, so the CommonJS program
// loads it with require()): its URL, a code for a user, and a way to stop it.
import { Sandbox, SandboxServer } from "@wxauth/sandbox"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"

export const app = Sandbox.defaultApps.officialAccount

export const start = async () => {
  const runtime = ManagedRuntime.make(Sandbox.layerServer({ port: 0 }).pipe(Layer.provideMerge(Sandbox.layer())))
  const { url } = await runtime.runPromise(SandboxServer.SandboxServer)
  const code = async (user) => {
    const callback = await runtime.runPromise(
      Effect.flatMap(
        Sandbox.Sandbox,
        (sandbox) =>
          sandbox.approve({ appId: app.appId, user, scope: "snsapi_userinfo", redirectUri: "https://example.com/cb" })
      )
    )
    return new URL(callback).searchParams.get("code")
  }
  return { url, code, stop: () => runtime.dispose() }
}
