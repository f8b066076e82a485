// Vite builds the screens into one static bundle that Tauri embeds in the binary.
// No dev-server URL is used at the counter, nothing is fetched at run time.
//
// `vite build` is the shipped bundle (dist/). `vite build --mode mock` (npm run build:mock)
// builds the same screens with the development mock (src/dev/mock.ts) into dist-mock/, for
// looking at them in a browser. The shipped build refuses to finish if the mock, an inline
// script or an inline style got into it (`shippedBundleGuard`).
import { svelte } from "@sveltejs/vite-plugin-svelte";
import type { Plugin } from "vite";
import { defineConfig } from "vitest/config";

/** Fails the production build on anything the kiosk must not ship (see above). */
function shippedBundleGuard(): Plugin {
  // Strings only the mock has: its kiosk id, its fictitious people, the mocks API.
  const forbidden = ["MOCK-KIOSK", "見本", "mockIPC", "shouldMockEvents"];
  return {
    name: "madoguchi-shipped-bundle-guard",
    apply: "build",
    generateBundle(_options, bundle) {
      for (const [name, item] of Object.entries(bundle)) {
        const text = item.type === "chunk" ? item.code : typeof item.source === "string" ? item.source : "";
        if (/(^|\/)mock/i.test(name)) this.error(`the shipped bundle contains ${name}`);
        for (const f of forbidden) {
          if (text.includes(f)) this.error(`the shipped bundle's ${name} contains ${JSON.stringify(f)} (development mock)`);
        }
        if (name.endsWith(".html")) {
          if (/<script(?![^>]*\bsrc=)[^>]*>/i.test(text)) this.error(`${name} has an inline script (the CSP forbids it)`);
          if (/<style[\s>]/i.test(text) || /\sstyle=/i.test(text)) this.error(`${name} has an inline style (the CSP forbids it)`);
        }
      }
    },
  };
}

export default defineConfig(({ mode }) => ({
  clearScreen: false,
  base: "./",
  plugins: [svelte(), ...(mode === "production" ? [shippedBundleGuard()] : [])],
  build: {
    outDir: mode === "mock" ? "dist-mock" : "dist",
    emptyOutDir: true,
    target: "safari15",
    sourcemap: false,
    // No inline scripts or styles (the CSP forbids them), no external assets.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts"],
  },
}));
