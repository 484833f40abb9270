/**
 * Marks the stores that keep their entries in this process only (core's memory `AppTokenStore`), so
 * that a service holding what cannot be fetched again (`Component`: the ticket and the authorized
 * apps' refresh tokens) can warn that a restart loses it. Not part of any store's contract: a store
 * of another package or of the caller is never marked.
 *
 * @internal
 */
import { globalValue } from "effect/GlobalValue"

// shared by every copy of core loaded in the process, as the deadline marks are (boundedStore.ts)
const marks = globalValue(
  Symbol.for("@wxauth/core/internal/memoryStore/marks"),
  () => new WeakSet<object>()
)

/** Marks `store` as kept in this process' memory only. @internal */
export const mark = <S extends object>(store: S): S => {
  marks.add(store)
  return store
}

/** Whether `store` was marked by `mark` (never a throw: a WeakSet lookup runs no trap). @internal */
export const isMarked = (store: unknown): boolean =>
  ((typeof store === "object" && store !== null) || typeof store === "function") && marks.has(store)
