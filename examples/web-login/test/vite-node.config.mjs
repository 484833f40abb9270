// Runs src/main.ts from its TypeScript sources (as vitest does) for test/main.test.ts:
// `vite-node --config test/vite-node.config.mjs src/main.ts`.
import shared from "../../../vitest.shared.js"

export default { resolve: { alias: shared.test.alias }, esbuild: shared.esbuild }
