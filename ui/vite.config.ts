// Vite builds the three screens into one static bundle that Tauri embeds in the binary.
// No dev-server URL is used at the counter, nothing is fetched at run time.
import { defineConfig } from "vitest/config";

export default defineConfig({
  clearScreen: false,
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "safari15",
    sourcemap: false,
    // One small bundle; no inline scripts (the CSP forbids them), no external assets.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts"],
  },
});
