/**
 * An app's redirect domains (`SandboxApp.redirectDomains`): the hosts WeChat lets a consent
 * redirect to, as an official account's web-authorization domain or a website app's callback domain
 * is configured. WeChat compares the whole host ("全域名": `pay.qq.com` is not `qq.com`), and a
 * port that is not the scheme's default is part of it.
 *
 * @internal
 */

/** A host as compared: the hostname as a URL gives it (lower case, punycode), the port or "". */
interface Host {
  readonly hostname: string
  readonly port: string
}

const HOST = /^([^:/?#@\s[\]]+|\[[0-9A-Fa-f:.]+\])(?::([0-9]{1,5}))?$/

/**
 * A configured host (`app.example.com`, `127.0.0.1:3000`, `[::1]:8080`), or `undefined` if it is not
 * one (a URL, a path, a port out of range).
 *
 * @internal
 */
export const parse = (entry: string): Host | undefined => {
  if (entry.length > 260) return undefined
  const match = HOST.exec(entry)
  if (match === null) return undefined
  const port = match[2] ?? ""
  if (port !== "" && (Number(port) < 1 || Number(port) > 65535 || port.startsWith("0"))) return undefined
  try {
    const url = new URL(`http://${match[1]}/`)
    return url.hostname === "" ? undefined : { hostname: url.hostname, port }
  } catch {
    return undefined
  }
}

/**
 * Whether a redirect URI (an absolute http(s) URL) goes to one of the hosts: its hostname and port
 * (empty for the scheme's default) equal a configured host's.
 *
 * @internal
 */
export const allows = (hosts: ReadonlyArray<string>, redirectUri: string): boolean => {
  let url: URL
  try {
    url = new URL(redirectUri)
  } catch {
    return false
  }
  return hosts.some((entry) => {
    const host = parse(entry)
    return host !== undefined && host.hostname === url.hostname && host.port === url.port
  })
}
