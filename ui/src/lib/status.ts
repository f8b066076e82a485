// The kiosk status as the Rust side sends it (see src-tauri/src/dto.rs), and how a screen
// turns it into text. Pure functions: tested without a browser or Tauri.

import { isKey, t, type Key, type Lang } from "./i18n";

export type DeviceKind = "reader" | "camera" | "backend" | "trust";
export type DeviceMode = "hardware" | "simulated" | "network";
export type DeviceState = "ok" | "missing" | "error";

export interface DeviceStatus {
  kind: DeviceKind;
  mode: DeviceMode;
  state: DeviceState;
  detail: string;
  params: Record<string, unknown>;
}

export interface KioskStatus {
  version: string;
  kioskId: string;
  branchCode: string;
  language: Lang;
  simulate: boolean;
  singleScreen: boolean;
  devices: DeviceStatus[];
  probedAt: number;
}

export interface UiError {
  code: string;
  message: string;
}

export interface DeviceView {
  kind: DeviceKind;
  name: string;
  mode: string;
  state: DeviceState;
  stateText: string;
  /** A symbol so that state is never told by colour alone. */
  symbol: string;
  detail: string;
}

const SYMBOL: Record<DeviceState, string> = { ok: "✓", missing: "—", error: "✕" };

export function describeDevice(lang: Lang, d: DeviceStatus): DeviceView {
  const detailKey = d.detail;
  const detail = isKey(detailKey)
    ? t(lang, detailKey, d.params)
    : t(lang, "error.unknown", { code: detailKey });
  return {
    kind: d.kind,
    name: t(lang, `device.${d.kind}` as Key),
    mode: t(lang, `mode.${d.mode}` as Key),
    state: d.state,
    stateText: t(lang, `state.${d.state}` as Key),
    symbol: SYMBOL[d.state],
    detail,
  };
}

/** Every device present and working. */
export function allDevicesOk(s: KioskStatus): boolean {
  return s.devices.length > 0 && s.devices.every((d) => d.state === "ok");
}

/** A command's rejection (`{code, message}`) in the screen's language: by its code, from
 * `error.<code>` or the code's own text; the technician message is never shown as such. */
/** The code of an error from Rust (`{code, message}`), or `error.unknown`. */
export function errorCode(e: unknown): string {
  return typeof e === "object" && e !== null && "code" in e ? String((e as UiError).code) : "error.unknown";
}

export function describeError(lang: Lang, e: unknown): string {
  const code = typeof e === "object" && e !== null && "code" in e ? String((e as UiError).code) : "";
  const key = `error.${code}`;
  if (isKey(key)) return t(lang, key);
  if (code !== "" && isKey(code)) return t(lang, code);
  return t(lang, "error.unknown", { code: code || String(e) });
}
