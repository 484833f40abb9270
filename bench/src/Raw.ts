/**
 * The reference: a bare undici keep-alive `Pool` making the same `GET /sns/userinfo` as the SDKs
 * (same query, `lang=zh_CN`), reading the body as JSON and checking that it is a profile. What an
 * HTTP client cannot go below on this machine.
 */
import { Pool } from "undici"
import type { Subject } from "./Harness.js"
import type { Grant } from "./SandboxProcess.js"

export const make = (url: string, grant: Grant): Subject => {
  const pool = new Pool(url, { connections: 128 })
  const path = `/sns/userinfo?access_token=${encodeURIComponent(grant.accessToken)}&openid=${
    encodeURIComponent(grant.openid)
  }&lang=zh_CN`
  return {
    name: "raw undici Pool",
    driver: {
      _tag: "Call",
      call: async () => {
        const { body, statusCode } = await pool.request({ method: "GET", path })
        const user = (await body.json()) as { openid?: string; errcode?: number }
        if (statusCode !== 200 || user.openid !== grant.openid) {
          throw new Error(`raw userinfo failed: HTTP ${statusCode}, errcode ${user.errcode}`)
        }
        return user
      }
    },
    close: () => pool.close()
  }
}
