/**
 * Test helpers: the sandbox WeChat (a real HTTP server) and the app on free ports (the HTTP "browser"
 * and the login's steps are `@wxauth/test-support`'s).
 */
import { Sandbox, SandboxServer } from "@wxauth/sandbox"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as App from "../src/App.js"

export const OA = Sandbox.defaultApps.officialAccount
export const WEB = Sandbox.defaultApps.website

/** The sandbox and the app, started in the test's scope and stopped after it. */
export const startApp = (
  options: Partial<App.AppOptions> & {
    readonly qrCode?: { readonly embedded: boolean; readonly selfRedirect?: boolean } | undefined
  } = {}
) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const runtime = ManagedRuntime.make(
        Sandbox.layerServer({ port: 0, host: "127.0.0.1" }).pipe(Layer.provideMerge(Sandbox.layer()))
      )
      const { url: sandboxUrl } = await runtime.runPromise(SandboxServer.SandboxServer)
      const hosts = { apiBaseUrl: sandboxUrl, openBaseUrl: sandboxUrl }
      const app = await App.start({
        apps: {
          official: { kind: "officialAccount", appId: OA.appId, appSecret: OA.secret, ...hosts },
          web: {
            kind: "website",
            appId: WEB.appId,
            appSecret: WEB.secret,
            ...hosts,
            ...(options.qrCode === undefined ? {} : {
              qrCode: { ...options.qrCode, scriptUrl: `${sandboxUrl}/connect/zh_CN/htmledition/js/wxLogin.js` }
            })
          }
        },
        ...options
      })
      return { ...app, sandboxUrl, runtime }
    }),
    ({ close, runtime }) => Effect.promise(() => close().then(() => runtime.dispose()))
  )
