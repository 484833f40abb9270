/**
 * The entry point as a person starts it (`src/main.ts`, here run from its sources by vite-node):
 * what it prints and how it exits when it cannot start.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Url from "node:url"

const example = Url.fileURLToPath(new URL("..", import.meta.url))
const viteNode = Path.join(example, "..", "..", "node_modules", "vite-node", "vite-node.mjs")

/** Runs `src/main.ts` with these extra environment variables until it exits (or 30 s pass). */
const runMain = (env: Record<string, string>) =>
  Effect.async<{ readonly code: number | null; readonly stdout: string; readonly stderr: string }>((resume) => {
    const child = ChildProcess.execFile(
      process.execPath,
      [viteNode, "--config", Path.join(example, "test", "vite-node.config.mjs"), Path.join(example, "src", "main.ts")],
      {
        cwd: example,
        env: { ...process.env, PORT: "0", SANDBOX_PORT: "0", ...env },
        timeout: 30_000,
        killSignal: "SIGKILL"
      },
      (error, stdout, stderr) => {
        resume(
          Effect.succeed({
            code: error === null ? 0 : typeof error.code === "number" ? error.code : null,
            stdout,
            stderr
          })
        )
      }
    )
    return Effect.sync(() => child.kill())
  })

describe("main: a token store that cannot open", () => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "wxauth-web-login-main-"))
  const file = Path.join(dir, "a-file")
  Fs.writeFileSync(file, "not a directory")

  it.live("SQLITE_FILE naming a directory: a clear error, a non-zero exit", () =>
    Effect.gen(function*() {
      const { code, stderr } = yield* runMain({ SQLITE_FILE: dir })
      assert.isNotNull(code, "it exits on its own")
      assert.notStrictEqual(code, 0)
      assert.include(stderr, "SQLITE_FILE")
      assert.include(stderr, dir)
      assert.include(stderr, "is a directory")
    }), 60_000)

  it.live("SQLITE_FILE under a regular file: a clear error, a non-zero exit", () =>
    Effect.gen(function*() {
      const target = Path.join(file, "tokens.sqlite")
      const { code, stderr } = yield* runMain({ SQLITE_FILE: target })
      assert.isNotNull(code, "it exits on its own")
      assert.notStrictEqual(code, 0)
      assert.include(stderr, "SQLITE_FILE")
      assert.include(stderr, file)
      assert.include(stderr, "not a directory")
    }), 60_000)
})
