/**
 * One of the processes of the Redis refresh storm (forked by `Storm.redis`): its own runtime, its
 * own Redis connections (store and lock), its own HTTP pool; on "go", `calls` concurrent `getUser`
 * for one user whose access token has expired.
 */
import * as Effect from "effect/Effect"
import { performance } from "node:perf_hooks"
import * as OffsetClock from "./OffsetClock.js"
import type { WorkerDone, WorkerOptions } from "./Storm.js"
import * as Wxauth from "./Wxauth.js"

const options = JSON.parse(process.argv[2]) as WorkerOptions

const main = async () => {
  const { oauth, runtime } = await Wxauth.start({
    sandboxUrl: options.sandboxUrl,
    store: "redis",
    http: "lean",
    redis: options.redis
  })
  const clock = OffsetClock.make(options.clockOffsetMillis)
  process.once("message", async () => {
    const started = performance.now()
    const outcomes = await Promise.all(
      Array.from(
        { length: options.calls },
        () => runtime.runPromise(Effect.either(Effect.withClock(oauth.getUser(options.openid), clock)))
      )
    )
    const failures: Record<string, number> = {}
    let succeeded = 0
    for (const outcome of outcomes) {
      if (outcome._tag === "Right") succeeded++
      else failures[outcome.left._tag] = (failures[outcome.left._tag] ?? 0) + 1
    }
    const done: WorkerDone = { type: "done", succeeded, failures, wallMs: performance.now() - started }
    process.send!(done, () => {
      runtime.dispose().finally(() => process.exit(0))
    })
  })
  process.send!({ type: "ready" })
}

main().catch((error) => {
  console.error("bench: storm worker failed:", error)
  process.exit(1)
})
