/**
 * The `wxauth-sandbox` command, run as a user runs it: `node dist/bin.js` in a child process.
 * The package is built first (incremental, so a no-op when `npm test` already built it).
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { buildProject } from "@wxauth/test-support"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs/promises"
import * as Http from "node:http"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const packageDir = fileURLToPath(new URL("..", import.meta.url))
const bin = Path.join(packageDir, "dist", "bin.js")
let tmp = ""

beforeAll(async () => {
  await buildProject(Path.join(packageDir, "tsconfig.src.json"))
  tmp = await Fs.mkdtemp(Path.join(Os.tmpdir(), "wxauth-sandbox-cli-"))
}, 120_000)

afterAll(async () => {
  if (tmp !== "") await Fs.rm(tmp, { recursive: true, force: true })
})

interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs the command to its end. */
const run = (args: ReadonlyArray<string>, entry = bin): Promise<Run> =>
  new Promise((resolve, reject) => {
    ChildProcess.execFile(process.execPath, [entry, ...args], { timeout: 20_000 }, (error, stdout, stderr) => {
      if (error !== null && typeof error.code !== "number") return reject(error)
      resolve({ code: error === null ? 0 : error.code as number, stdout, stderr })
    })
  })

/** Starts the command and waits for its banner. */
const start = (args: ReadonlyArray<string>) =>
  new Promise<{ child: ChildProcess.ChildProcess; url: string; banner: () => string; exited: Promise<Run> }>(
    (resolve, reject) => {
      const child = ChildProcess.spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "pipe"] })
      let stdout = ""
      let stderr = ""
      const exited = new Promise<Run>((done) => child.on("exit", (code) => done({ code, stdout, stderr })))
      const timer = setTimeout(
        () => reject(new Error(`no banner in 15 s; stdout: ${stdout}; stderr: ${stderr}`)),
        15_000
      )
      child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
        stdout += chunk
        const match = /listening on (http:\/\/\S+)/.exec(stdout)
        if (match !== null && stdout.includes("Ctrl-C")) {
          clearTimeout(timer)
          resolve({ child, url: match[1], banner: () => stdout, exited })
        }
      })
      child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
      exited.then((run) => {
        clearTimeout(timer)
        reject(new Error(`exited early with ${run.code}: ${run.stderr}`))
      })
    }
  )

const assertOneLine = (run: Run, message: RegExp) => {
  assert.strictEqual(run.code, 1, run.stderr)
  const lines = run.stderr.trimEnd().split("\n")
  assert.strictEqual(lines.length, 1, `one line on stderr, got: ${run.stderr}`)
  assert.match(lines[0], /^wxauth-sandbox: /)
  assert.match(lines[0], message)
  assert.strictEqual(run.stdout, "")
}

describe("wxauth-sandbox", () => {
  it("starts on --port 0, prints credentials, URLs and curl lines, serves, and stops on SIGINT", async () => {
    const { banner, child, exited, url } = await start(["--port", "0"])
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/)
    const text = banner()
    assert.include(text, "appid wxsandboxofficial1  secret b2743a5c9017ce76b965cbbbe0e224ed")
    assert.include(text, "wxsandboxminiprog1")
    assert.include(text, "alice  张三")
    assert.include(text, `API   (https://api.weixin.qq.com)   ${url}`)
    assert.include(text, `${url}/connect/oauth2/authorize?appid=wxsandboxofficial1&redirect_uri=`)
    assert.include(text, `curl -s '${url}/sns/oauth2/access_token?appid=wxsandboxofficial1&secret=`)
    assert.include(text, "fault kinds: busy rateLimited errcode http500 http502 truncated wrongShape slow reset nested")
    // the printed consent URL works
    const authorize = /(http:\S+\/connect\/oauth2\/authorize\S+)/.exec(text)![1]
    const page = await fetch(authorize)
    assert.strictEqual(page.status, 200)
    assert.include(await page.text(), "允许")
    const config = await (await fetch(`${url}/__sandbox/config`)).json()
    assert.strictEqual(config.apps[0].appId, "wxsandboxofficial1")
    child.kill("SIGINT")
    const result = await exited
    assert.strictEqual(result.code, 0)
    assert.include(result.stdout, "wxauth-sandbox: stopped")
    assert.strictEqual(result.stderr, "")
  })

  it("walks the flow printed in the banner: consent by form POST, then the code exchange", async () => {
    const { child, exited, url } = await start(["--port=0", "--host", "127.0.0.1"])
    try {
      const consent = await fetch(`${url}/connect/oauth2/authorize`, {
        method: "POST",
        redirect: "manual",
        body: new URLSearchParams({
          appid: "wxsandboxofficial1",
          response_type: "code",
          scope: "snsapi_userinfo",
          state: "xyz",
          redirect_uri: `${url}/__sandbox/callback`,
          user: "alice",
          decision: "allow"
        })
      })
      assert.strictEqual(consent.status, 302)
      const location = consent.headers.get("location")!
      const code = new URL(location).searchParams.get("code")!
      const callback = await (await fetch(location)).text()
      assert.include(callback, `<code id="code">${code}</code>`)
      const token = await (await fetch(
        `${url}/sns/oauth2/access_token?appid=wxsandboxofficial1&secret=b2743a5c9017ce76b965cbbbe0e224ed&code=${code}&grant_type=authorization_code`
      )).json()
      assert.strictEqual(token.expires_in, 7200)
    } finally {
      child.kill("SIGTERM")
      assert.strictEqual((await exited).code, 0)
    }
  })

  it("walks the app-token lines of the banner: stable_token, a phone code, getuserphonenumber, apptoken", async () => {
    const { banner, child, exited, url } = await start(["--port", "0"])
    try {
      const text = banner()
      const body =
        `{"grant_type":"client_credential","appid":"wxsandboxminiprog1","secret":"de08b5d0c06461b5eb70fd59ac7ce9d2"}`
      assert.include(text, `curl -s -X POST ${url}/cgi-bin/stable_token -d '${body}'`)
      assert.include(
        text,
        `curl -s -X POST ${url}/__sandbox/miniprogram/phonecode -d '{"appId":"wxsandboxminiprog1","user":"alice"}'`
      )
      assert.include(
        text,
        `curl -s -X POST '${url}/wxa/business/getuserphonenumber?access_token=APP_TOKEN' -d '{"code":"PHONE_CODE"}'`
      )
      assert.include(
        text,
        `${url}/wxa/checksession?access_token=APP_TOKEN&openid=OPENID&signature=SIGNATURE&sig_method=hmac_sha256`
      )
      const token = await (await fetch(`${url}/cgi-bin/stable_token`, { method: "POST", body })).json()
      assert.strictEqual(token.expires_in, 7200)
      const phone = await (await fetch(`${url}/__sandbox/miniprogram/phonecode`, {
        method: "POST",
        body: JSON.stringify({ appId: "wxsandboxminiprog1", user: "alice" })
      })).json()
      const answer = await (await fetch(`${url}/wxa/business/getuserphonenumber?access_token=${token.access_token}`, {
        method: "POST",
        body: JSON.stringify({ code: phone.code })
      })).json()
      assert.strictEqual(answer.phone_info.purePhoneNumber, "13800000001")
      assert.include(text, `curl -s '${url}/__sandbox/apptoken?appId=wxsandboxminiprog1'`)
      const usage = await (await fetch(`${url}/__sandbox/apptoken?appId=wxsandboxminiprog1`)).json()
      assert.strictEqual(usage.forceRefreshLimit, 20)
    } finally {
      child.kill("SIGTERM")
      assert.strictEqual((await exited).code, 0)
    }
  })

  it("takes apps and users from --config", async () => {
    const file = Path.join(tmp, "apps.json")
    await Fs.writeFile(
      file,
      JSON.stringify({
        apps: [{
          appId: "wxmyownapp0000001",
          secret: "0123456789abcdef0123456789abcdef",
          kind: "website",
          name: "Mine"
        }],
        users: [{ id: "zoe", nickname: "赵六" }]
      })
    )
    const { banner, child, exited } = await start(["--port", "0", "--config", file])
    child.kill("SIGINT")
    await exited
    assert.include(banner(), "appid wxmyownapp0000001  secret 0123456789abcdef0123456789abcdef")
    assert.include(banner(), "/connect/qrconnect?appid=wxmyownapp0000001")
    assert.include(banner(), "zoe  赵六")
    assert.notInclude(banner(), "wxsandboxofficial1")
  })

  it("takes third-party platforms from --config: the banner's lines push a ticket to the pushUrl and use it", async () => {
    const received: Array<{ url: string; body: string }> = []
    const receiver = Http.createServer((request, response) => {
      let body = ""
      request.setEncoding("utf8").on("data", (chunk: string) => (body += chunk)).on("end", () => {
        received.push({ url: request.url ?? "", body })
        response.end("success")
      })
    })
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve))
    const pushUrl = `http://127.0.0.1:${(receiver.address() as Net.AddressInfo).port}/wechat/events`
    const file = Path.join(tmp, "platform.json")
    const platform = {
      componentAppId: "wxcomponent0000001",
      componentAppSecret: "0c79e1fa963cd80cc0be99b20a18faeb",
      token: "sandboxtoken",
      encodingAesKey: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
      pushUrl,
      authorizers: [{ appId: "wxmanagedofficial1", kind: "officialAccount" }]
    }
    await Fs.writeFile(file, JSON.stringify({ components: [platform] }))
    const { banner, child, exited, url } = await start(["--port", "0", "--config", file])
    try {
      assert.include(banner(), "Third-party platform wxcomponent0000001:")
      assert.include(banner(), `pushes to ${pushUrl} every 10m`)
      assert.include(banner(), "authorized by wxmanagedofficial1 (officialAccount)")
      assert.include(banner(), `${url}/__sandbox/component/ticket -d '{"componentAppId":"wxcomponent0000001"}'`)
      const pushed = await (await fetch(`${url}/__sandbox/component/ticket`, {
        method: "POST",
        body: JSON.stringify({ componentAppId: platform.componentAppId })
      })).json()
      assert.deepInclude(pushed.delivery, { status: 200, answer: "success", success: true })
      assert.strictEqual(received.length, 1)
      assert.match(
        received[0].url,
        /^\/wechat\/events\?signature=[0-9a-f]{40}&timestamp=\d+&nonce=\d{10}&encrypt_type=aes&msg_signature=[0-9a-f]{40}$/
      )
      assert.strictEqual(received[0].body, pushed.push.body)
      const token = await (await fetch(`${url}/cgi-bin/component/api_component_token`, {
        method: "POST",
        body: JSON.stringify({
          component_appid: platform.componentAppId,
          component_appsecret: platform.componentAppSecret,
          component_verify_ticket: pushed.push.message.ComponentVerifyTicket
        })
      })).json()
      assert.strictEqual(token.expires_in, 7200)
    } finally {
      child.kill("SIGINT")
      await exited
      await new Promise((resolve) => receiver.close(resolve))
    }
  })

  it.skipIf(process.platform !== "linux")(
    "a huge fault: 128 MiB leave the server in pieces, its peak RSS grows by far less",
    async () => {
      const { child, exited, url } = await start(["--port", "0"])
      const peakRss = async () => {
        const status = await Fs.readFile(`/proc/${child.pid}/status`, "utf8")
        return Number(/^VmHWM:\s+(\d+) kB$/m.exec(status)![1]) * 1024
      }
      try {
        const bytes = 128 * 1024 * 1024
        await (await fetch(`${url}/sns/auth`)).text()
        const before = await peakRss()
        const injected = await fetch(`${url}/__sandbox/faults`, {
          method: "POST",
          body: JSON.stringify({ kind: "huge", endpoint: "auth", bytes, times: 2 })
        })
        assert.strictEqual(injected.status, 200, await injected.text())
        const response = await fetch(`${url}/sns/auth`)
        assert.strictEqual(response.headers.get("content-length"), String(bytes))
        let received = 0
        let head = ""
        const reader = response.body!.getReader()
        for (let read = await reader.read(); !read.done; read = await reader.read()) {
          if (head === "") head = Buffer.from(read.value.subarray(0, 12)).toString()
          received += read.value.length
        }
        assert.strictEqual(received, bytes)
        assert.strictEqual(head, "{\"openid\":\"a")
        // a client that stops reading early: the server stops sending
        const dropped = new AbortController()
        const partial = await fetch(`${url}/sns/auth`, { signal: dropped.signal })
        await partial.body!.getReader().read()
        dropped.abort()
        const grown = (await peakRss()) - before
        assert.isBelow(grown, 48 * 1024 * 1024, `the server's peak RSS grew by ${grown} bytes`)
        // and it still answers
        assert.strictEqual((await (await fetch(`${url}/sns/auth`)).json()).errcode, 41001)
      } finally {
        child.kill("SIGTERM")
        await exited
      }
    },
    60_000
  )

  it("--help prints the usage and exits 0", async () => {
    const result = await run(["--help"])
    assert.strictEqual(result.code, 0)
    assert.include(result.stdout, "Usage: wxauth-sandbox [--port 8800]")
  })

  it("the package's bin (what npx runs) is a committed file that runs the built CLI", async () => {
    const pkg = JSON.parse(await Fs.readFile(Path.join(packageDir, "package.json"), "utf8"))
    const shim = Path.join(packageDir, pkg.bin["wxauth-sandbox"])
    assert.isTrue(((await Fs.stat(shim)).mode & 0o111) !== 0, "executable")
    const help = await run(["--help"], shim)
    assert.strictEqual(help.code, 0)
    assert.include(help.stdout, "Usage: wxauth-sandbox")
    assertOneLine(await run(["--nope"], shim), /unknown option --nope/)
  })

  it("an unknown flag: one line on stderr, exit 1", async () => {
    assertOneLine(await run(["--prot", "8800"]), /unknown option --prot \(try --help\)/)
  })

  it("a bad port or a missing value: one line, exit 1", async () => {
    assertOneLine(await run(["--port", "http"]), /--port must be a number from 0 to 65535, got "http"/)
    assertOneLine(await run(["--port", "65536"]), /--port must be a number/)
    assertOneLine(await run(["--port"]), /--port needs a value/)
    assertOneLine(await run(["8800"]), /unexpected argument "8800"/)
  })

  it("a bad or missing config file: one line, exit 1", async () => {
    const broken = Path.join(tmp, "broken.json")
    await Fs.writeFile(broken, `{"apps": [{"appId": "wx1"`)
    assertOneLine(await run(["--port", "0", "--config", broken]), /bad sandbox config .*broken\.json: not valid JSON/)
    const wrong = Path.join(tmp, "wrong.json")
    await Fs.writeFile(wrong, JSON.stringify({ apps: [{ appId: "wx1", secret: "s", kind: "app" }] }))
    assertOneLine(await run(["--port", "0", "--config", wrong]), /apps\.0\.kind: must be one of/)
    assertOneLine(
      await run(["--port", "0", "--config", Path.join(tmp, "nope.json")]),
      /cannot read sandbox config .*nope\.json: no such file/
    )
  })

  it("a port in use: one line, exit 1", async () => {
    const blocker = Net.createServer()
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve))
    const port = (blocker.address() as Net.AddressInfo).port
    try {
      assertOneLine(
        await run(["--port", String(port)]),
        new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the port is already in use \\(EADDRINUSE\\)`)
      )
    } finally {
      blocker.close()
    }
  })
})
