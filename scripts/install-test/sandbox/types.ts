// Type-checked under moduleResolution nodenext, bundler and node10.
import { Sandbox, SandboxServer } from "@wxauth/sandbox"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

const app = Sandbox.defaultApps.officialAccount

export const ServerLive = Sandbox.layerServer({ port: 0 }).pipe(Layer.provideMerge(Sandbox.layer()))

export const code: Effect.Effect<string, Sandbox.SandboxError, Sandbox.Sandbox> = Effect.flatMap(
  Sandbox.Sandbox,
  (sandbox) =>
    sandbox.approve({ appId: app.appId, user: "alice", scope: "snsapi_base", redirectUri: "https://example.com/cb" })
)

export const url: Effect.Effect<string, never, SandboxServer.SandboxServer> = Effect.map(
  SandboxServer.SandboxServer,
  (server) => server.url
)

// @ts-expect-error: a port is a number
export const wrong = Sandbox.layerServer({ port: "8800" })
