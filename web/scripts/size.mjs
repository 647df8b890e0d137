#!/usr/bin/env node
// The JavaScript a first visit downloads before the page can run: the entry script of
// dist/index.html and every chunk it preloads, gzip-compressed. Above the budget the build fails
// (issue 12: at most 200 kB gzip; the editor and the charts are loaded lazily).
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

export const BUDGET_BYTES = 200 * 1000;

export function initialScripts(dist) {
  const html = readFileSync(join(dist, "index.html"), "utf8");
  const found = new Set();
  for (const match of html.matchAll(/<script[^>]*\bsrc="([^"]+\.js)"/g)) found.add(match[1]);
  for (const match of html.matchAll(/<link[^>]*rel="modulepreload"[^>]*href="([^"]+\.js)"/g)) found.add(match[1]);
  return [...found].map((src) => {
    const bytes = readFileSync(join(dist, src.replace(/^\//, "")));
    return { file: src, raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
  });
}

export function initialSize(dist) {
  const files = initialScripts(dist);
  return { files, gzip: files.reduce((sum, file) => sum + file.gzip, 0) };
}

const here = dirname(fileURLToPath(import.meta.url));
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dist = resolve(here, "..", "dist");
  const { files, gzip } = initialSize(dist);
  for (const file of files) console.log(`  ${file.file}  ${(file.gzip / 1000).toFixed(1)} kB gzip`);
  const verdict = gzip <= BUDGET_BYTES ? "within" : "OVER";
  console.log(`initial JavaScript: ${(gzip / 1000).toFixed(1)} kB gzip, ${verdict} the budget of ${BUDGET_BYTES / 1000} kB`);
  if (gzip > BUDGET_BYTES) process.exit(1);
}
