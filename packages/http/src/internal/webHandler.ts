/**
 * The login as a Web-standard handler (`Request` -> `Promise<Response>`) with Promise twins of the
 * service, for servers that are not Effect servers. One runtime is built from the layer on first
 * use and kept until `dispose`.
 *
 * @internal
 */
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import type * as CurrentWeChatUser from "../CurrentWeChatUser.js"
import type { WebHandler, WeChatLogin, WeChatLoginShape } from "../WeChatLogin.js"

const pathnameOf = (input: Request | URL | string): string | undefined => {
  try {
    return new URL(typeof input === "string" || input instanceof URL ? input : input.url, "http://localhost").pathname
  } catch {
    return undefined
  }
}

/** @internal */
export const toWebHandler = <E>(
  tag: typeof WeChatLogin,
  layer: Layer.Layer<WeChatLogin | CurrentWeChatUser.CurrentWeChatUser, E, never>,
  options?: { readonly memoMap?: Layer.MemoMap | undefined }
): WebHandler => {
  const runtime = ManagedRuntime.make(
    Layer.merge(layer, HttpServer.layerContext),
    options?.memoMap
  )
  let ready: Promise<WeChatLoginShape> | undefined
  const service = () => (ready ??= run(Effect.succeed))
  // a failure rejects with the typed error itself (its `_tag` tells what happened), not a wrapper
  const run = <A, X>(effect: (service: WeChatLoginShape) => Effect.Effect<A, X>): Promise<A> =>
    runtime.runPromiseExit(Effect.flatMap(tag, effect)).then((exit) =>
      Exit.isSuccess(exit) ? exit.value : Promise.reject(Cause.squash(exit.cause))
    )
  const web = HttpApp.toWebHandlerRuntime
  let handler: ((request: Request) => Promise<Response>) | undefined
  return {
    handler: async (request) => {
      if (handler === undefined) {
        try {
          const rt = await runtime.runtime()
          handler = web(rt)(Effect.flatMap(tag, (s) => s.httpApp) as any)
        } catch (error) {
          // the layer failed: every request gets a 500 (the failure is logged, never answered)
          Effect.runSync(Effect.logError("wxauth: the login's layer failed to build", error))
          return new Response("The login is not available.", {
            status: 500,
            headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" }
          })
        }
      }
      return handler(request)
    },
    handles: async (input) => {
      const pathname = pathnameOf(input)
      return pathname !== undefined && (await service()).handles(pathname)
    },
    currentUser: (request) =>
      run((s) =>
        s.currentUser.pipe(
          Effect.provideService(HttpServerRequest.HttpServerRequest, HttpServerRequest.fromWeb(request)),
          Effect.catchTags({
            Unauthenticated: () => Effect.succeed(undefined),
            CrossSiteRequest: () => Effect.succeed(undefined)
          })
        )
      ),
    getUser: (user, getOptions) => run((s) => s.getUser(user, getOptions)),
    logoutEverywhere: (user) => run((s) => s.logoutEverywhere(user)),
    dispose: () => runtime.dispose()
  }
}
