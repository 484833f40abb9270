/**
 * Chromium for the browser tests: Debian's Chromium (`/usr/bin/chromium`, driven by
 * `playwright-core`, never a downloaded browser), browser contexts that reach 127.0.0.1 only, and
 * small steps on a page as Effects.
 *
 * Without `/usr/bin/chromium` a browser test is skipped with a warning; with `CI=true` it fails.
 *
 * @since 0.0.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Url from "node:url"
import type { Browser, BrowserContext, FrameLocator, Page } from "playwright-core"
import { chromium } from "playwright-core"

/**
 * Where Debian's Chromium is.
 *
 * @since 0.0.0
 */
export const executablePath = "/usr/bin/chromium"

/**
 * Whether Chromium is there.
 *
 * @since 0.0.0
 */
export const hasChromium: boolean = Fs.existsSync(executablePath)

/**
 * Whether the tests run in CI (`CI=true`), where a missing Chromium is a failure.
 *
 * @since 0.0.0
 */
export const inCi: boolean = process.env.CI === "true"

/**
 * Warns loudly, once a test file, that its browser test is skipped (no Chromium, not in CI).
 *
 * @since 0.0.0
 */
export const warnIfSkipped = (what: string): void => {
  if (!hasChromium && !inCi) {
    console.warn(
      "\n" + "!".repeat(100) + "\n" +
        `!! SKIPPING ${what}: ${executablePath} is missing. Install Debian's chromium ` +
        "(apt-get install chromium).\n!! With CI=true a missing Chromium is a failure.\n" +
        "!".repeat(100) + "\n"
    )
  }
}

/**
 * The screenshots' folder of a test file (`test-results/screenshots/` of its package), given the
 * test file's `import.meta.url`.
 *
 * @since 0.0.0
 */
export const screenshotsDir = (testFileUrl: string): string =>
  Path.join(Url.fileURLToPath(new URL("..", testFileUrl)), "test-results", "screenshots")

/**
 * Chromium launched headless, closed with the scope.
 *
 * @since 0.0.0
 */
export const launch: Effect.Effect<Browser, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(() =>
    chromium.launch({
      executablePath,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync"
      ]
    })
  ),
  (browser) => Effect.promise(() => browser.close())
)

/**
 * The Chromium of a group of tests.
 *
 * @since 0.0.0
 */
export class Chromium extends Context.Tag("@wxauth/test-support/Chromium")<Chromium, Browser>() {}

/**
 * {@link Chromium}, launched with the layer and closed after the tests.
 *
 * @since 0.0.0
 */
export const layer: Layer.Layer<Chromium> = Layer.scoped(Chromium, launch)

/**
 * A new browser context of `browser` (its own cookies) with a user agent, closed with the scope.
 * Requests leave for 127.0.0.1 only: the sandbox users' avatar URLs point at WeChat's CDN, which a
 * test must not call.
 *
 * @since 0.0.0
 */
export const newContextOf = (
  browser: Browser,
  userAgent: string
): Effect.Effect<BrowserContext, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const context = await browser.newContext({ userAgent, locale: "zh-CN", viewport: { width: 900, height: 900 } })
      await context.route((url) => url.hostname !== "127.0.0.1", (route) => route.abort())
      return context
    }),
    (context) => Effect.promise(() => context.close())
  )

/**
 * A new browser context of the {@link Chromium} (see {@link newContextOf}).
 *
 * @since 0.0.0
 */
export const newContext = (userAgent: string): Effect.Effect<BrowserContext, never, Chromium | Scope.Scope> =>
  Effect.flatMap(Chromium, (browser) => newContextOf(browser, userAgent))

/**
 * `f` on a page in a new context with this user agent, closed after.
 *
 * @since 0.0.0
 */
export const withPage = <A, E, R>(
  userAgent: string,
  f: (page: Page) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, Chromium | Exclude<R, Scope.Scope>> =>
  Effect.gen(function*() {
    const context = yield* newContext(userAgent)
    return yield* f(yield* Effect.promise(() => context.newPage()))
  }).pipe(Effect.scoped)

/**
 * One step of a test on a page (a promise of `playwright-core`) as an Effect.
 *
 * @since 0.0.0
 */
export const step = <A>(f: () => Promise<A>): Effect.Effect<A> => Effect.promise(f)

/**
 * Takes screenshots of whole pages into `dir`: `shot(page, name)` writes `<dir>/<name>.png`.
 *
 * @since 0.0.0
 */
export const shotsIn = (dir: string) => (page: Page, name: string): Effect.Effect<Buffer> =>
  step(() => page.screenshot({ path: Path.join(dir, `${name}.png`), fullPage: true }))

/**
 * The inner text of the element the selector finds.
 *
 * @since 0.0.0
 */
export const text = (page: Page, selector: string): Effect.Effect<string> =>
  step(() => page.locator(selector).innerText())

/**
 * On the sandbox's consent page (or in its frame): picks a user and presses allow or deny.
 *
 * @since 0.0.0
 */
export const decide = (
  page: Page | FrameLocator,
  user: string,
  decision: "allow" | "deny"
): Effect.Effect<void> =>
  Effect.gen(function*() {
    yield* step(() => page.locator(`#user-${user}`).check())
    yield* step(() => page.locator(`#${decision}`).click())
  })

/**
 * The login's session cookie (`wxauth_session`) of a browser context, if any.
 *
 * @since 0.0.0
 */
export const sessionCookie = (context: BrowserContext) =>
  step(async () => (await context.cookies()).find((cookie) => cookie.name === "wxauth_session"))
