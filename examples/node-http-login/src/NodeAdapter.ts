/**
 * Node's `http` in Web-standard terms, the few lines an app on a plain Node server needs to use a
 * `Request` -> `Response` handler: an `IncomingMessage` as a `Request` (its body streamed, not
 * read here: the handler reads what it needs, within its own limits), and a `Response` written to
 * the `ServerResponse` (every `Set-Cookie` line kept apart).
 */
import type * as Http from "node:http"
import { Readable } from "node:stream"

/**
 * The request as a Web `Request`, at `origin` (the site's own, e.g. `http://127.0.0.1:3000`);
 * `undefined` for one `Request` refuses (a client may send anything): a target that is no URL
 * (`http://[/`) or carries credentials (`http://user:pass@host/`), a method it forbids (`TRACE`).
 */
export const toRequest = (incoming: Http.IncomingMessage, origin: string): Request | undefined => {
  const headers = new Headers()
  for (const [name, value] of Object.entries(incoming.headers)) {
    if (Array.isArray(value)) { for (const v of value) headers.append(name, v) }
    else if (value !== undefined) headers.set(name, value)
  }
  const method = incoming.method ?? "GET"
  const hasBody = method !== "GET" && method !== "HEAD"
  try {
    return new Request(new URL(incoming.url ?? "/", origin), {
      method,
      headers,
      ...(hasBody ? { body: Readable.toWeb(incoming) as ReadableStream<Uint8Array>, duplex: "half" } : {})
    } as RequestInit)
  } catch {
    return undefined // its message may hold the URL, credentials too: not logged
  }
}

/** Writes a Web `Response` to Node's `ServerResponse`. */
export const send = async (outgoing: Http.ServerResponse, response: Response): Promise<void> => {
  outgoing.statusCode = response.status
  response.headers.forEach((value, name) => {
    if (name !== "set-cookie") outgoing.setHeader(name, value)
  })
  const cookies = response.headers.getSetCookie()
  if (cookies.length > 0) outgoing.setHeader("set-cookie", cookies)
  if (response.body === null) {
    outgoing.end()
    return
  }
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) outgoing.write(chunk)
  outgoing.end()
}
