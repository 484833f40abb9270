#!/usr/bin/env node
/**
 * The `wxauth-sandbox` command: `wxauth-sandbox --port 8800 [--host 127.0.0.1] [--config apps.json]`
 * starts the sandbox's HTTP server and prints the app credentials, the URLs and a curl walk
 * through the flow. Ctrl-C stops it; a bad flag, bad config or busy port exits 1 with one line on
 * stderr.
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cli from "./internal/cli.js"

NodeRuntime.runMain(Cli.main(process.argv.slice(2)), { disableErrorReporting: true })
