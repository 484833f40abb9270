/**
 * Memory per stored token, measured in a child process with `--expose-gc` (see `memoryWorker.ts`).
 */
import { fork } from "node:child_process"
import { fileURLToPath } from "node:url"

export interface MemoryResult {
  readonly tokens: number
  /** core's `TokenStore.makeMemory`: heap bytes per stored token (the token, its strings, the map entry, the `Redacted` registry). */
  readonly wxauthMemoryStoreBytesPerToken: number
  /** wechat-oauth 1.5.0's default store (the parsed answer, on a plain object by openid), for comparison. */
  readonly wechatOAuthStoreBytesPerToken: number
}

/** What `memoryWorker.ts` can fill. */
export type MemoryKind = "wxauthStore" | "legacyStore"

const workerEntry = fileURLToPath(new URL("./memoryWorker.js", import.meta.url))

const bytesPerToken = (kind: MemoryKind, tokens: number): Promise<number> =>
  new Promise((resolve, reject) => {
    const child = fork(workerEntry, [kind, String(tokens)], {
      execArgv: ["--expose-gc"],
      stdio: ["ignore", "inherit", "inherit", "ipc"]
    })
    let result: number | undefined
    child.once("message", (message: number) => {
      result = message
    })
    child.once("exit", (code) =>
      result !== undefined ? resolve(result) : reject(new Error(`the memory worker exited (${code})`)))
  })

/** Each figure in a fresh process. */
export const measure = async (tokens: number): Promise<MemoryResult> => ({
  tokens,
  wxauthMemoryStoreBytesPerToken: await bytesPerToken("wxauthStore", tokens),
  wechatOAuthStoreBytesPerToken: await bytesPerToken("legacyStore", tokens)
})
