// The customer's keypads: which keys, in which rows. Pure data; a key press is sent to Rust
// at once (api.keypadPress) and nothing typed is kept on the page.

import type { KeypadKey } from "./api";

export type ControlKey = "backspace" | "clear" | "enter";
export const CONTROL_KEYS: readonly ControlKey[] = ["backspace", "clear", "enter"];

const DIGITS = "0123456789".split("");
const LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ".split("");

/** The PIN pad: 3×4 (1–9, then clear, 0, backspace); the enter key sits beside it. */
export const PIN_ROWS: readonly (readonly KeypadKey[])[] = [
  ["1", "2", "3"],
  ["4", "5", "6"],
  ["7", "8", "9"],
  ["clear", "0", "backspace"],
];

/** The password keyboard: digits and QWERTY letter rows; the control keys below. */
export const PASSWORD_ROWS: readonly (readonly KeypadKey[])[] = [
  ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0"],
  ["Q", "W", "E", "R", "T", "Y", "U", "I", "O", "P"],
  ["A", "S", "D", "F", "G", "H", "J", "K", "L"],
  ["Z", "X", "C", "V", "B", "N", "M"],
  ["clear", "backspace", "enter"],
];

export function keysOf(kind: "pin" | "password"): KeypadKey[] {
  return kind === "pin" ? [...PIN_ROWS.flat(), "enter"] : PASSWORD_ROWS.flat();
}

/** Every key a keypad of this kind must have, once each. */
export function expectedKeys(kind: "pin" | "password"): KeypadKey[] {
  return kind === "pin" ? [...DIGITS, ...CONTROL_KEYS] : [...DIGITS, ...LETTERS, ...CONTROL_KEYS];
}

export function isControl(key: KeypadKey): key is ControlKey {
  return (CONTROL_KEYS as readonly string[]).includes(key);
}

/** The dots under the keypad: PIN shows `max` places, filled as typed; a password shows one dot
 * per character typed (its length is not announced in advance). */
export function dots(kind: "pin" | "password", typed: number, max: number): boolean[] {
  const n = Math.max(0, Math.floor(typed));
  if (kind === "pin") return Array.from({ length: Math.max(max, n) }, (_, i) => i < n);
  return Array.from({ length: n }, () => true);
}
