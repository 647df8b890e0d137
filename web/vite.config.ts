/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import tailwindcss from "@tailwindcss/vite";
import { defineConfig, type Plugin } from "vite";

// `make web-dev` runs this dev server; the API it talks to is a running
// `crontopus-server run all` (same origin in production, proxied here).
const api = process.env.CRONTOPUS_API ?? "http://127.0.0.1:8080";

/** src/boot.ts imports the application only after it sent the start-up refresh: preload the
 * application's chunks from the page's head so a first visit does not fetch them one by one. */
function preloadApplication(): Plugin {
  return {
    name: "crontopus-preload-application",
    apply: "build",
    transformIndexHtml: {
      order: "post",
      handler(_html, { bundle }) {
        const chunks = Object.values(bundle ?? {}).filter((out) => out.type === "chunk");
        const main = chunks.find((chunk) => chunk.facadeModuleId?.endsWith("/src/main.tsx"));
        if (!main) throw new Error("no chunk for src/main.tsx: was it renamed?");
        const entries = new Set(chunks.filter((chunk) => chunk.isEntry).map((chunk) => chunk.fileName));
        const scripts = [main.fileName, ...main.imports].filter((file) => !entries.has(file));
        const styles = [...(main.viteMetadata?.importedCss ?? [])];
        return [
          ...styles.map((file) => ({ tag: "link", attrs: { rel: "stylesheet", crossorigin: true, href: `/${file}` }, injectTo: "head" as const })),
          ...scripts.map((file) => ({ tag: "link", attrs: { rel: "modulepreload", crossorigin: true, href: `/${file}` }, injectTo: "head" as const })),
        ];
      },
    },
  };
}

export default defineConfig({
  plugins: [react(), tailwindcss(), preloadApplication()],
  server: {
    host: "127.0.0.1",
    port: 5173,
    proxy: {
      "/api": { target: api, changeOrigin: false },
      "/ping": { target: api, changeOrigin: false },
    },
  },
  build: {
    outDir: "dist",
    // Vite's inline module-preload polyfill would be an inline script, which the console's CSP
    // (script-src 'self') forbids; every browser we support has modulepreload anyway.
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/test/setup.ts"],
    css: false,
    include: ["src/**/*.test.{ts,tsx}", "scripts/**/*.test.{ts,mjs}"],
    testTimeout: 20_000,
  },
});
