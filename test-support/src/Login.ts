/**
 * A login as a person does it with a {@link Browser}: start at the app, the sandbox WeChat's
 * consent page, the callback; and the sandbox's control API.
 *
 * @since 0.0.0
 */
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type { Browser } from "./HttpBrowser.js"
import { unescapeHtml } from "./HttpBrowser.js"

/**
 * What a person does on the sandbox's consent page: opens it, picks a user (default `alice`),
 * presses allow (default) or deny. `editForm` changes the form before it is sent (e.g. to tamper
 * with the state). Returns the callback URL the sandbox redirects to.
 *
 * @since 0.0.0
 */
export const consent = (
  browser: Browser,
  authorizeUrl: string,
  options: {
    readonly user?: string
    readonly decision?: "allow" | "deny"
    readonly editForm?: (form: URLSearchParams) => void
  } = {}
): Effect.Effect<string> =>
  Effect.gen(function*() {
    const page = yield* browser.get(authorizeUrl)
    assert.strictEqual(page.status, 200, `the consent page opens: ${page.text.slice(0, 300)}`)
    const action = /<form id="consent" method="post" action="([^"]+)">/.exec(page.text)?.[1]
    assert.isDefined(action, "the consent page has a form")
    const form = new URLSearchParams()
    for (const [, name, value] of page.text.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
      form.append(name, unescapeHtml(value))
    }
    form.append("user", options.user ?? "alice")
    form.append("decision", options.decision ?? "allow")
    options.editForm?.(form)
    const answer = yield* browser.post(new URL(unescapeHtml(action!), authorizeUrl).href, Object.fromEntries(form))
    assert.strictEqual(answer.status, 302, "the sandbox redirects back to the app")
    return answer.location!
  })

/**
 * Starts a login at the app's `path` (default `/login`) and returns WeChat's authorize URL it
 * redirects to.
 *
 * @since 0.0.0
 */
export const startLogin = (browser: Browser, path = "/login"): Effect.Effect<string> =>
  Effect.gen(function*() {
    const answer = yield* browser.get(path)
    assert.strictEqual(answer.status, 302, `${path} redirects to WeChat: ${answer.text.slice(0, 200)}`)
    return answer.location!
  })

/**
 * A whole login: start (at `path`, default `/login`), consent (as `user`, default `alice`),
 * callback. Returns the callback URL and the callback's answer.
 *
 * @since 0.0.0
 */
export const login = (
  browser: Browser,
  options: { readonly path?: string | undefined; readonly user?: string | undefined } = {}
) =>
  Effect.gen(function*() {
    const authorizeUrl = yield* startLogin(browser, options.path)
    const callbackUrl = yield* consent(browser, authorizeUrl, options.user === undefined ? {} : { user: options.user })
    const answer = yield* browser.get(callbackUrl)
    return { callbackUrl, answer }
  })

/**
 * A sandbox control call (`/__sandbox/...`), JSON in and out.
 *
 * @since 0.0.0
 */
export const sandboxControl = (sandboxUrl: string, method: "GET" | "POST" | "DELETE", path: string, body?: unknown) =>
  Effect.promise(async () => {
    const response = await fetch(`${sandboxUrl}/__sandbox/${path}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { "content-type": "application/json" } })
    })
    return await response.json() as any
  })
