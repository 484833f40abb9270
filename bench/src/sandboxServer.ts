/**
 * The sandbox HTTP server in its own process (forked by `SandboxProcess.start`), so that it has its
 * own event loop and its CPU is not counted as the client's. It listens on 127.0.0.1 only, tells
 * the parent its URL over IPC, answers CPU-usage requests (so the bench can report the server's CPU
 * per call), mints phone-number codes in bulk with the sandbox's own `phoneNumberCode` (the
 * getPhoneNumber runs use up one per call) and stops when told to or when the parent goes away.
 */
import { Sandbox, SandboxServer } from "@wxauth/sandbox"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import type { FromServer, ToServer } from "./SandboxProcess.js"

const send = (message: FromServer) => process.send?.(message)

const runtime = ManagedRuntime.make(
  Sandbox.layerServer({ port: Number(process.env.BENCH_SANDBOX_PORT ?? "0"), host: "127.0.0.1" }).pipe(
    Layer.provideMerge(Sandbox.layer())
  )
)

let stopping = false
const stop = () => {
  if (stopping) return
  stopping = true
  runtime.dispose().finally(() => process.exit(0))
}

process.on("message", (message: ToServer) => {
  switch (message.type) {
    case "cpu":
      send({ type: "cpu", id: message.id, usage: process.cpuUsage() })
      break
    case "phoneCodes": {
      const { appId, count, id, user } = message
      runtime.runPromise(
        Effect.flatMap(
          Sandbox.Sandbox,
          (sandbox) => Effect.forEach(Array.from({ length: count }), () => sandbox.phoneNumberCode({ appId, user }))
        )
      ).then(
        (codes) => send({ type: "phoneCodes", id, codes }),
        (error) => send({ type: "failed", id, message: String(error) })
      )
      break
    }
    case "stop":
      stop()
      break
  }
})
process.on("disconnect", stop)

runtime.runPromise(SandboxServer.SandboxServer).then(
  (info) => send({ type: "ready", url: info.url }),
  (error) => {
    console.error("bench: the sandbox server did not start:", error)
    process.exit(1)
  }
)
