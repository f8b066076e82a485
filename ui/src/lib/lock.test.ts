import { describe, expect, it } from "vitest";
import { blockedKey } from "./lock";

function key(k: string, mods: Partial<Pick<KeyboardEvent, "ctrlKey" | "shiftKey" | "altKey" | "metaKey">> = {}): KeyboardEvent {
  return { key: k, ctrlKey: false, shiftKey: false, altKey: false, metaKey: false, ...mods } as KeyboardEvent;
}

describe("the kiosk's blocked keys", () => {
  it("blocks reload, devtools, close and navigation", () => {
    for (const e of [
      key("F5"),
      key("r", { ctrlKey: true }),
      key("R", { ctrlKey: true, shiftKey: true }),
      key("I", { ctrlKey: true, shiftKey: true }),
      key("F12"),
      key("F4", { altKey: true }),
      key("w", { ctrlKey: true }),
      key("ArrowLeft", { altKey: true }),
      key("p", { ctrlKey: true }),
      key("+", { ctrlKey: true }),
    ]) {
      expect(blockedKey(e), `${e.key} ctrl=${e.ctrlKey} shift=${e.shiftKey} alt=${e.altKey}`).toBe(true);
    }
  });
  it("lets typing and editing through", () => {
    for (const e of [
      key("1"),
      key("a"),
      key("Backspace"),
      key("Enter"),
      key("Tab"),
      key("c", { ctrlKey: true }),
      key("v", { ctrlKey: true }),
      key("x", { ctrlKey: true }),
      key("z", { ctrlKey: true }),
      key("a", { ctrlKey: true }),
      key("ArrowLeft"),
    ]) {
      expect(blockedKey(e), e.key).toBe(false);
    }
  });
});
