/**
 * Options from a JSON config: its text (`Sandbox.loadOptions`) or its file
 * (`Sandbox.loadOptionsFile`). Every failure is one line, made a `SandboxError` by the caller's
 * `toError`.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Fs from "node:fs/promises"
import type { SandboxError, SandboxOptions } from "../Sandbox.js"
import * as Defaults from "./defaults.js"
import * as Schemas from "./schema.js"

/** @internal */
export const load = (
  json: string,
  toError: (message: string) => SandboxError
): Effect.Effect<SandboxOptions, SandboxError> =>
  Effect.suspend(() => Schemas.orFail(Schemas.parseOptions(json, Defaults.config), toError)).pipe(
    Effect.mapError((e) => toError(`bad sandbox config: ${e.message}`))
  )

/** @internal */
export const loadFile = (
  path: string,
  toError: (message: string) => SandboxError
): Effect.Effect<SandboxOptions, SandboxError> =>
  // a path that is not text (a Symbol, a Proxy) threw out of the error's message
  typeof path !== "string" ? Effect.fail(toError("the sandbox config path must be a string")) : Effect.flatMap(
    Effect.tryPromise({
      try: () => Fs.readFile(path, "utf8"),
      catch: (cause) =>
        toError(
          `cannot read sandbox config ${path}: ${
            (cause as NodeJS.ErrnoException)?.code === "ENOENT" ?
              "no such file" :
              cause instanceof Error ?
              cause.message :
              String(cause)
          }`
        )
    }),
    (text) => Effect.mapError(load(text, toError), (e) => toError(e.message.replace("config", `config ${path}`)))
  )
