/**
 * `tsc -b` for tests that run a package's build (a CommonJS `require`, a CLI, worker processes),
 * without blocking the worker's event loop: `execFileSync` would hold it for the whole build (a
 * minute on a cold machine), past vitest's 60 s worker RPC timeout (see `EventLoop.ts`).
 *
 * @since 0.0.0
 */
import * as ChildProcess from "node:child_process"
import { createRequire } from "node:module"

/**
 * Brings the build of the TypeScript project `tsconfig` (a path, absolute or relative to `cwd`) up
 * to date with `tsc -b`; rejects with tsc's output when it fails or outlasts `timeoutMillis`.
 *
 * @since 0.0.0
 */
export const buildProject = (
  tsconfig: string,
  options: { readonly cwd?: string | undefined; readonly timeoutMillis?: number | undefined } = {}
): Promise<void> =>
  new Promise((resolve, reject) => {
    const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc")
    ChildProcess.execFile(
      process.execPath,
      [tsc, "-b", tsconfig],
      { cwd: options.cwd, timeout: options.timeoutMillis ?? 170_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) =>
        error === null
          ? resolve()
          : reject(new Error(`tsc -b ${tsconfig} failed (${error.message.split("\n")[0]}):\n${stdout}${stderr}`))
    )
  })
