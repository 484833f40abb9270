/**
 * The child of `FlagProcess.start`: node with other V8 flags. Builds the raw client and wxauth
 * (memory store, lean client; `runPromise` and fibers) against the parent's sandbox, then warms up
 * and measures them when told, with the same harness as the parent's own clients.
 */
import type { FromWorker, Setup, ToWorker } from "./FlagProcess.js"
import * as Harness from "./Harness.js"
import * as Raw from "./Raw.js"
import * as Wxauth from "./Wxauth.js"

const setup = JSON.parse(process.argv[2]) as Setup
const send = (message: FromWorker, then: () => void = () => undefined) => process.send!(message, then)

const main = async () => {
  const subjects: Array<{ readonly subject: Harness.Subject; readonly client: "raw" | "wxauth" }> = [
    { subject: Raw.make(setup.sandboxUrl, setup.grant), client: "raw" }
  ]
  const runners: ReadonlyArray<Wxauth.Runner> = ["runPromise", "fibers"]
  for (const [i, runner] of runners.entries()) {
    const callbackUrl = setup.callbackUrls[i]
    subjects.push({
      subject: await Wxauth.make(
        { sandboxUrl: setup.sandboxUrl, store: "memory", http: "lean" },
        runner,
        async () => callbackUrl
      ),
      client: "wxauth"
    })
  }
  const byName = new Map(subjects.map(({ subject }) => [subject.name, subject]))
  process.on("message", (message: ToWorker) => {
    const run = async (): Promise<Harness.Measurement | undefined> => {
      switch (message.type) {
        case "warmUp":
          await Harness.warmUp(byName.get(message.name)!, message.calls, message.concurrency)
          return undefined
        case "measure":
          return Harness.measure(byName.get(message.name)!, message.calls, message.concurrency)
        case "close":
          for (const { subject } of subjects) await subject.close().catch(() => undefined)
          return undefined
      }
    }
    run().then(
      (measurement) =>
        send(
          { type: "done", id: message.id, measurement },
          message.type === "close" ? () => process.exit(0) : undefined
        ),
      (error) => send({ type: "failed", id: message.id, message: String(error) })
    )
  })
  send({
    type: "ready",
    subjects: subjects.map(({ client, subject }) => ({ name: subject.name, client }))
  })
}

process.on("disconnect", () => process.exit(0))

main().catch((error) => {
  console.error("bench: flag worker failed:", error)
  process.exit(1)
})
