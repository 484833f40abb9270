/**
 * The PNG chart: an HTML page of SVG bar charts, rendered by the Debian Chromium through
 * playwright-core. Without Chromium the PNG is skipped with a warning.
 */
import * as Fs from "node:fs"
import { chromium } from "playwright-core"
import type { Results, Run } from "./Report.js"

export const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium"

const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync"
]

const escape = (text: string) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

const colors: Record<Run["client"], string> = {
  raw: "#6b7280",
  "effect-floor": "#9ca3af",
  "wechat-oauth": "#d97706",
  wxauth: "#2563eb"
}

interface Bar {
  readonly label: string
  readonly segments: ReadonlyArray<{ readonly value: number; readonly color: string }>
  readonly note: string
}

const barChart = (
  title: string,
  bars: ReadonlyArray<Bar>,
  marks: ReadonlyArray<{ readonly value: number; readonly label: string }> = [],
  noteWidth = 190
) => {
  const labelWidth = 330
  const plotWidth = 750 - noteWidth
  const rowHeight = 26
  const top = 34
  const width = labelWidth + plotWidth + noteWidth
  const height = top + bars.length * rowHeight + 24
  const max = Math.max(
    1,
    ...bars.map((b) => b.segments.reduce((sum, s) => sum + s.value, 0)),
    ...marks.map((m) => m.value)
  )
  const x = (value: number) => labelWidth + (value / max) * plotWidth
  const rows = bars.map((bar, i) => {
    const y = top + i * rowHeight
    let start = 0
    const rects = bar.segments.map((segment) => {
      const rect = `<rect x="${x(start)}" y="${y + 4}" width="${
        Math.max(0, x(start + segment.value) - x(start))
      }" height="${rowHeight - 8}" fill="${segment.color}"/>`
      start += segment.value
      return rect
    }).join("")
    return `<text x="${labelWidth - 8}" y="${y + rowHeight / 2 + 4}" text-anchor="end">${
      escape(bar.label)
    }</text>${rects}` +
      `<text x="${x(start) + 6}" y="${y + rowHeight / 2 + 4}" class="note">${escape(bar.note)}</text>`
  }).join("")
  const markLines = marks.map((mark) =>
    `<line x1="${x(mark.value)}" x2="${x(mark.value)}" y1="${top - 4}" y2="${height - 20}" class="mark"/>` +
    `<text x="${x(mark.value)}" y="${height - 6}" text-anchor="middle" class="note">${escape(mark.label)}</text>`
  ).join("")
  return `<h2>${
    escape(title)
  }</h2><svg width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg">${rows}${markLines}</svg>`
}

/** The page. */
export const html = (results: Results): string => {
  const concurrencies = [...new Set(results.runs.map((r) => r.concurrency))].sort((a, b) => b - a)
  const sections: Array<string> = []
  for (const c of concurrencies) {
    const runs = results.runs.filter((r) => r.concurrency === c)
    const raw = runs.find((r) => r.client === "raw")
    sections.push(barChart(
      `calls/s at concurrency ${c} (higher is better)`,
      runs.map((r) => ({
        label: r.name,
        segments: [{ value: r.callsPerSec, color: colors[r.client] }],
        note: `${r.callsPerSec.toLocaleString("en-US")}  ${r.ratioToRaw.toFixed(2)}x raw`
      })),
      raw === undefined ? [] : [{ value: raw.callsPerSec * 0.85, label: "0.85x raw" }]
    ))
    sections.push(barChart(
      `CPU µs per call at concurrency ${c}: client (dark) + sandbox server (light), lower is better`,
      runs.map((r) => ({
        label: r.name,
        segments: [
          { value: r.cpuUsPerCall, color: colors[r.client] },
          { value: r.serverCpuUsPerCall ?? 0, color: "#cbd5e1" }
        ],
        note: `${r.cpuUsPerCall.toFixed(0)} + ${(r.serverCpuUsPerCall ?? 0).toFixed(0)} µs;  p50 ${
          r.p50Ms.toFixed(2)
        } / p99 ${r.p99Ms.toFixed(2)} ms`
      })),
      [],
      330
    ))
  }
  if (results.storm.length > 0) {
    sections.push(
      `<h2>Refresh storm: refresh requests WeChat received for concurrent getUser on one expired token</h2><table>` +
        `<tr><th>client</th><th>expiry</th><th>calls</th><th>refresh requests</th><th>succeeded</th><th>failures</th></tr>` +
        results.storm.map((s) =>
          `<tr><td>${escape(s.name)}</td><td>${s.expiry}</td><td>${s.calls}</td><td class="${
            s.refreshRequests === 1 ? "ok" : "bad"
          }">${s.refreshRequests}</td><td>${s.succeeded}</td><td>${
            escape(Object.entries(s.failures).map(([e, n]) => `${n} ${e}`).join(", ") || "-")
          }</td></tr>`
        ).join("") + `</table><p>expired: two hours pass for the client and for WeChat (the client refreshes first); ` +
        `42001: only WeChat's clock moves (the client learns it from userinfo's 42001).</p>`
    )
  }
  if (results.memory !== null) {
    const mem = results.memory
    sections.push(
      `<h2>Memory at ${
        mem.tokens.toLocaleString("en-US")
      } tokens (heap bytes per stored token)</h2><p>wxauth memory store: <b>${mem.wxauthMemoryStoreBytesPerToken} B</b>/token; ` +
        `wechat-oauth's store: ${mem.wechatOAuthStoreBytesPerToken} B/token</p>`
    )
  }
  const m = results.machine
  return `<!doctype html><html><head><meta charset="utf-8"><style>
body { font: 13px system-ui, sans-serif; margin: 20px; color: #111827; background: #fff; width: 1100px }
h1 { font-size: 18px; margin: 0 0 4px } h2 { font-size: 14px; margin: 18px 0 4px }
svg text { font: 12px system-ui, sans-serif; fill: #111827 } svg text.note { fill: #374151 }
line.mark { stroke: #dc2626; stroke-dasharray: 4 3 }
table { border-collapse: collapse } td, th { border: 1px solid #d1d5db; padding: 3px 8px; text-align: left }
td.ok { color: #15803d; font-weight: bold } td.bad { color: #b91c1c; font-weight: bold }
.legend span { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 12px }
</style></head><body>
<h1>wxauth getUser vs raw undici vs wechat-oauth 1.5.0 (loopback sandbox)</h1>
<div>${escape(`${m.cpus} x ${m.cpuModel}, node ${m.node}, ${results.generatedAt}`)}
<span class="legend"><span style="background:${colors.raw}"></span>raw<span style="background:${
    colors["wechat-oauth"]
  }"></span>wechat-oauth<span style="background:${colors.wxauth}"></span>wxauth</span></div>
${sections.join("\n")}
</body></html>`
}

/** Renders the page to `path`; false (with a warning) when Chromium is missing or fails. */
export const render = async (results: Results, path: string): Promise<boolean> => {
  if (!Fs.existsSync(chromiumPath)) {
    console.warn(`bench: ${chromiumPath} not found: no PNG chart (set CHROMIUM_PATH)`)
    return false
  }
  const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: chromiumArgs })
  try {
    const page = await browser.newPage({ viewport: { width: 1140, height: 800 } })
    await page.setContent(html(results))
    await page.screenshot({ path, fullPage: true })
    return true
  } catch (error) {
    console.warn("bench: the PNG chart failed:", error)
    return false
  } finally {
    await browser.close()
  }
}
