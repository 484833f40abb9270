/**
 * Sending a push to a third-party platform, as WeChat does: `POST` the encrypted XML to its
 * authorization-event URL and wait at most 5 seconds for the answer, which must be the text
 * `success` (in process: its `pushHandler` instead of the URL). The answer is read up to 64 KiB
 * and its first 1024 characters are recorded. Never fails: a refused connection, a timeout or a
 * failing handler is a delivery with an `error`.
 *
 * No retry: the next ticket comes with the timer anyway, and a test that wants a push again sends
 * it again.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { ComponentPush, PushDelivery } from "../Sandbox.js"
import type { ComponentConfig } from "./component.js"

/** WeChat waits 5 seconds for the platform's answer. @internal */
export const PUSH_TIMEOUT = Duration.seconds(5)
/** The most of an answer that is read. @internal */
export const MAX_ANSWER_BYTES = 64 * 1024
/** The most of an answer (and of an error) that is recorded. @internal */
export const RECORDED_CHARS = 1024

const cut = (text: string): string => text.length > RECORDED_CHARS ? text.slice(0, RECORDED_CHARS) : text

/** The body of an answer, up to `MAX_ANSWER_BYTES`; the rest is not read. */
const readBounded = async (response: Response): Promise<string> => {
  if (response.body === null) return ""
  const reader = response.body.getReader()
  const chunks: Array<Uint8Array> = []
  let size = 0
  try {
    while (size < MAX_ANSWER_BYTES) {
      const { done, value } = await reader.read()
      if (done) break
      chunks.push(value)
      size += value.length
    }
  } finally {
    await reader.cancel().catch(() => undefined)
  }
  return Buffer.concat(chunks).subarray(0, MAX_ANSWER_BYTES).toString("utf8")
}

/** A transport error in a few words: the system's code (ECONNREFUSED…) when there is one. */
const describe = (error: unknown): string => {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause
  if (typeof cause?.code === "string") return cause.code
  if (typeof cause?.message === "string") return cause.message
  return error instanceof Error ? error.message : String(error)
}

const timeoutMessage = `no answer within ${Duration.format(PUSH_TIMEOUT)}`

/** What a delivery ended in, from the exit of sending it. */
const toDelivery = (
  at: number,
  url: string | undefined,
  exit: Exit.Exit<{ readonly status: number; readonly text: string }, unknown>
): PushDelivery => {
  if (Exit.isSuccess(exit)) {
    const { status, text } = exit.value
    return { at, url, status, answer: cut(text), success: status === 200 && text === "success" }
  }
  const failure = Cause.failureOption(exit.cause)
  const error = failure._tag === "Some" ?
    failure.value instanceof Cause.TimeoutException ? timeoutMessage : describe(failure.value) :
    Cause.isInterruptedOnly(exit.cause) ?
    "interrupted" :
    describe(Cause.squash(exit.cause))
  return { at, url, error: cut(error), success: false }
}

/** Whether the platform has somewhere to push to. @internal */
export const hasReceiver = (component: ComponentConfig): boolean =>
  component.pushUrl !== undefined || component.pushHandler !== undefined

/** Sends a push to the platform's receiver (which it must have); `at` is the sandbox's time. @internal */
export const deliver = (component: ComponentConfig, push: ComponentPush, at: number): Effect.Effect<PushDelivery> => {
  const handler = component.pushHandler
  if (handler !== undefined) {
    const handled = Effect.suspend(() => handler(push)).pipe(
      Effect.flatMap((answer) =>
        typeof answer === "string" ?
          Effect.succeed({ status: 200, text: answer }) :
          Effect.fail(new Error("the pushHandler did not answer a string"))
      )
    )
    return Effect.map(Effect.exit(Effect.timeout(handled, PUSH_TIMEOUT)), (exit) => toDelivery(at, undefined, exit))
  }
  const url = push.url
  if (url === undefined) return Effect.succeed({ at, url, error: "the platform has no pushUrl", success: false })
  const sent = Effect.tryPromise({
    try: async (signal) => {
      const response = await fetch(url, {
        method: push.method,
        headers: push.headers,
        body: push.body,
        redirect: "manual",
        signal
      })
      return { status: response.status, text: await readBounded(response) }
    },
    catch: (error) => error
  })
  return Effect.map(Effect.exit(Effect.timeout(sent, PUSH_TIMEOUT)), (exit) => toDelivery(at, url, exit))
}
