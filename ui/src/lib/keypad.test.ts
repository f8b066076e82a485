import { describe, expect, it } from "vitest";
import { dots, expectedKeys, isControl, keysOf, PASSWORD_ROWS, PIN_ROWS } from "./keypad";

describe("keypads", () => {
  it("the PIN pad is 3×4 with 1–9, clear, 0, backspace, and an enter key", () => {
    expect(PIN_ROWS.map((r) => r.length)).toEqual([3, 3, 3, 3]);
    expect(PIN_ROWS[3]).toEqual(["clear", "0", "backspace"]);
    expect(PIN_ROWS.slice(0, 3).flat()).toEqual(["1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    expect(keysOf("pin")).toContain("enter");
  });

  it("each keypad has every key it needs, once", () => {
    for (const kind of ["pin", "password"] as const) {
      const keys = keysOf(kind);
      expect(new Set(keys).size).toBe(keys.length);
      expect([...keys].sort()).toEqual([...expectedKeys(kind)].sort());
    }
  });

  it("the password keyboard has QWERTY letter rows and no lower case", () => {
    expect(PASSWORD_ROWS[1]?.join("")).toBe("QWERTYUIOP");
    expect(PASSWORD_ROWS[2]?.join("")).toBe("ASDFGHJKL");
    expect(PASSWORD_ROWS[3]?.join("")).toBe("ZXCVBNM");
    expect(keysOf("password").every((k) => isControl(k) || /^[A-Z0-9]$/.test(k))).toBe(true);
  });

  it("every key is one the Rust side accepts", () => {
    for (const k of keysOf("password")) expect(isControl(k) || /^[A-Z0-9]$/.test(k)).toBe(true);
  });

  it("shows PIN places filled as typed and one dot per password character", () => {
    expect(dots("pin", 2, 4)).toEqual([true, true, false, false]);
    expect(dots("pin", 0, 4)).toEqual([false, false, false, false]);
    expect(dots("password", 3, 16)).toEqual([true, true, true]);
    expect(dots("password", 0, 16)).toEqual([]);
  });
});
