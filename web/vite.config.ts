/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import tailwindcss from "@tailwindcss/vite";
import { defineConfig } from "vite";

// `make web-dev` runs this dev server; the API it talks to is a running
// `crontopus-server run all` (same origin in production, proxied here).
const api = process.env.CRONTOPUS_API ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react(), tailwindcss()],
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
