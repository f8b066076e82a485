// Svelte 5 (runes). Component CSS goes to the bundle's CSS file (never injected as <style>:
// the CSP allows only the app's own style sheets).
import { vitePreprocess } from "@sveltejs/vite-plugin-svelte";

export default {
  preprocess: vitePreprocess({ script: true }),
  compilerOptions: { runes: true, css: "external" },
};
