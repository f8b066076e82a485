// The kiosk lock on the page side: the browser keys that would reload, inspect, close, print,
// save, zoom or navigate do nothing, and there is no context menu and no drop target. The
// window side (no close, fullscreen, no navigation away, no devtools) is in src-tauri/kiosk.rs.

/** Browser keys that would reload, inspect, close, print, save, zoom or navigate: a kiosk
 * customer (or a teller) must not leave the screens with them. Typing keys are untouched. */
export function blockedKey(e: KeyboardEvent): boolean {
  const k = e.key.toLowerCase();
  const mod = e.ctrlKey || e.metaKey;
  if (k === "f5" || k === "f12" || k === "f7" || k === "f11" || k === "browserback" || k === "browserforward") return true;
  if (e.altKey && (k === "arrowleft" || k === "arrowright" || k === "home" || k === "f4")) return true;
  if (mod && e.shiftKey && (k === "i" || k === "j" || k === "c" || k === "r" || k === "delete")) return true;
  if (mod && ["r", "w", "q", "p", "s", "o", "n", "t", "l", "u", "f", "g", "h", "j", "+", "-", "=", "0"].includes(k)) return true;
  return false;
}

export function lockPage(): void {
  window.addEventListener(
    "keydown",
    (e) => {
      if (blockedKey(e)) {
        e.preventDefault();
        e.stopPropagation();
      }
    },
    { capture: true },
  );
  // No context menu (Reload, Inspect), no dropping a file or link onto the page.
  for (const ev of ["contextmenu", "dragover", "drop", "auxclick"]) {
    window.addEventListener(ev, (e) => e.preventDefault(), { capture: true });
  }
}

