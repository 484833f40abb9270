/** The test helper `countingClient` counts what reaches Redis: a command once, however ioredis sends it. */
import { it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { assert } from "vitest"
import { countingClient } from "./utils.js"

it.scopedLive("a read sent before the connection is ready is counted once", () =>
  Effect.gen(function*() {
    const { client, count } = yield* countingClient()
    assert.strictEqual(client.status === "ready", false)
    yield* Effect.promise(() => client.get("wxauth-test-countcheck"))
    assert.strictEqual(count("get"), 1)
  }))
