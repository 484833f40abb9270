// Type-checks every TypeScript block of the packages' READMEs (and the root README) against the
// workspace, so the docs' examples stay real. Blocks are written to build/readme/ (gitignored).
// Also the JSDoc `@example` blocks of the public modules a package's docgen.json excludes (core's
// testing.ts, which imports vitest): docgen, which checks the other modules' examples, skips them.
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"

const root = Path.resolve(import.meta.dirname, "..")
const readmes = ["README.md", ...Fs.readdirSync(Path.join(root, "packages")).map((p) => `packages/${p}/README.md`)]
const out = Path.join(root, "build", "readme")
Fs.rmSync(out, { recursive: true, force: true })
Fs.mkdirSync(out, { recursive: true })
let count = 0
for (const readme of readmes) {
  const file = Path.join(root, readme)
  if (!Fs.existsSync(file)) continue
  const text = Fs.readFileSync(file, "utf8")
  const blocks = [...text.matchAll(/```(?:ts|typescript)\n([\s\S]*?)```/g)].map((m) => m[1])
  blocks.forEach((block, i) => {
    const name = `${readme.replace(/[/.]/g, "_")}_${i}.ts`
    Fs.writeFileSync(Path.join(out, name), `// ${readme}, block ${i + 1}\nexport {}\n${block}`)
    count++
  })
}
let examples = 0
for (const pkg of Fs.readdirSync(Path.join(root, "packages"))) {
  const docgen = Path.join(root, "packages", pkg, "docgen.json")
  if (!Fs.existsSync(docgen)) continue
  const excluded = (JSON.parse(Fs.readFileSync(docgen, "utf8")).exclude ?? []).filter((f) => !f.includes("*"))
  for (const source of excluded) {
    const file = Path.join(root, "packages", pkg, source)
    if (!Fs.existsSync(file)) continue
    const lines = Fs.readFileSync(file, "utf8").split("\n")
    lines.forEach((line, i) => {
      if (!/^\s*\*\s*@example\b/.test(line)) return
      const start = lines.findIndex((l, j) => j > i && /^\s*\*\s*```(?:ts|typescript)\s*$/.test(l))
      const end = lines.findIndex((l, j) => j > start && /^\s*\*\s*```\s*$/.test(l))
      if (start < 0 || end < 0) return
      const block = lines.slice(start + 1, end).map((l) => l.replace(/^\s*\* ?/, "")).join("\n")
      const name = `packages_${pkg}_${source.replace(/[/.]/g, "_")}_L${i + 1}.ts`
      Fs.writeFileSync(Path.join(out, name), `// packages/${pkg}/${source}:${i + 1}, @example\nexport {}\n${block}\n`)
      examples++
    })
  }
}
Fs.writeFileSync(
  Path.join(out, "tsconfig.json"),
  JSON.stringify({
    extends: "../../tsconfig.base.json",
    compilerOptions: {
      noEmit: true,
      composite: false,
      incremental: false,
      declaration: false,
      declarationMap: false,
      noUnusedLocals: false
    },
    include: ["*.ts"]
  })
)
try {
  execFileSync(process.execPath, [
    Path.join(root, "node_modules/typescript/bin/tsc"),
    "-p",
    Path.join(out, "tsconfig.json")
  ], {
    stdio: "inherit"
  })
} catch {
  console.error("README examples do not type-check (see above; files in build/readme/)")
  process.exit(1)
}
console.log(
  `README examples: ${count} TypeScript blocks type-check` +
    ` (and ${examples} @example blocks of modules docgen skips)`
)
