/**
 * The example's `onLogout` hook for "log out everywhere", called as @wxauth/http calls it: every
 * identity linked to the user is logged out and forgotten, even when the store fails for one of them.
 */
import { assert, describe, it } from "@effect/vitest"
import { SessionStore, TokenStore, WeChatError } from "@wxauth/core"
import { makeToken } from "@wxauth/core/testing"
import type { WeChatLogin } from "@wxauth/http"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { hooks, Users } from "../src/Users.js"

const identities = [
  { appId: "wxofficial0000001", openid: "o-official" },
  { appId: "wxwebsite00000001", openid: "o-website" },
  { appId: "wxminiprogram0001", openid: "o-mini" }
] as const

describe("web-login: logout everywhere (the onLogout hook)", () => {
  it.effect("a store failure for one linked identity does not leave the others logged in or their tokens kept", () =>
    Effect.gen(function*() {
      const tokens = yield* TokenStore.makeMemory()
      for (const { appId, openid } of identities) yield* tokens.set(appId, yield* makeToken({ openid }))
      const revoked: Array<string> = []
      const memory = yield* SessionStore.makeMemory()
      const sessions = SessionStore.SessionStore.of({
        ...memory,
        revokeUser: (appId) =>
          appId === identities[1].appId
            ? Effect.fail(new WeChatError.SessionStoreError({ operation: "revokeUser", description: "down" }))
            : Effect.sync(() => revoked.push(appId)).pipe(Effect.as(0))
      })
      const users = Users.of({ identities: () => Effect.succeed(identities) } as any)
      const event = {
        everywhere: true,
        user: { appId: identities[0].appId, openid: identities[0].openid, userId: "u1" }
      } as unknown as WeChatLogin.LogoutEvent
      const exit = yield* Effect.exit(
        hooks.onLogout!(event).pipe(
          Effect.provideService(Users, users),
          Effect.provideService(TokenStore.TokenStore, tokens),
          Effect.provideService(SessionStore.SessionStore, sessions)
        )
      )
      // the failure is reported (http logs it), after every identity was tried
      assert.isTrue(exit._tag === "Failure", "the store's failure is the hook's")
      // the mini program's identity, after the failing one, is logged out too
      assert.deepStrictEqual(revoked, [identities[2].appId], "the own app's sessions are http's to end")
      for (const { appId, openid } of identities) {
        assert.isTrue(Option.isNone(yield* tokens.get(appId, openid)), `${appId}'s token is removed`)
      }
    }))
})
