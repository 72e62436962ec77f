// Builds static/widget/v1/cmp-widget.js from src/: one minified IIFE with its stylesheet inlined as a
// string. Deterministic (pinned esbuild, no timestamps, no absolute paths), so CI can rebuild and compare.
import { build } from "esbuild";
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const target = ["chrome100", "firefox100", "safari16.4", "edge100"];
const outfile = here("./static/widget/v1/cmp-widget.js");

const css = await build({
  entryPoints: [here("./src/styles.css")],
  bundle: true,
  minify: true,
  write: false,
  target,
  logLevel: "warning",
});

await build({
  entryPoints: [here("./src/main.js")],
  bundle: true,
  minify: true,
  format: "iife",
  target,
  charset: "utf8",
  legalComments: "none",
  banner: { js: "/*! CMP chat widget v1 */" },
  define: { __CSS__: JSON.stringify(css.outputFiles[0].text.trim()) },
  outfile,
  logLevel: "warning",
});

const built = await readFile(outfile);
await writeFile(outfile, built.toString("utf8").replace(/\n*$/, "\n"));
console.log(`${outfile.split("/widget/").pop()}: ${built.length} bytes, ${gzipSync(built, { level: 9 }).length} gzipped`);
