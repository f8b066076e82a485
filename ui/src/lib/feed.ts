// What reaches a screen from Rust, as feed items: the window's own IPC channel, whose messages
// carry a `kind` (`view`, `read-progress`, `face-progress`, `preview-frame`, `sim-state`, `desk`; see
// `fromChannel`), and the app-wide `device-status` event. Pure: tested without Tauri.

import type {
  CustomerDesk,
  CustomerView,
  DeskView,
  FaceProgress,
  PreviewFrame,
  ReadProgress,
  SimState,
  TellerView,
} from "./api";
import type { KioskStatus } from "./status";

export type Side = "teller" | "customer";

export type FeedItem<V> =
  | { kind: "view"; view: V }
  | { kind: "read-progress"; progress: ReadProgress }
  | { kind: "face-progress"; progress: FaceProgress }
  | { kind: "preview-frame"; frame: PreviewFrame }
  | { kind: "device-status"; status: KioskStatus }
  | { kind: "sim-state"; sim: SimState }
  | { kind: "desk"; desk: DeskView | CustomerDesk };

export type ViewOf<S extends Side> = S extends "teller" ? TellerView : CustomerView;

/** A payload of kind `event` as a feed item (null for one this side does not use). */
export function fromEvent<S extends Side>(side: S, event: string, payload: unknown): FeedItem<ViewOf<S>> | null {
  if (!isObject(payload)) return null;
  switch (event) {
    case `${side}-view`:
      return isView(payload) ? { kind: "view", view: payload as unknown as ViewOf<S> } : null;
    case "read-progress":
      return { kind: "read-progress", progress: payload as unknown as ReadProgress };
    case "face-progress":
      return { kind: "face-progress", progress: payload as unknown as FaceProgress };
    case "preview-frame":
      return { kind: "preview-frame", frame: payload as unknown as PreviewFrame };
    case "device-status":
      return { kind: "device-status", status: payload as unknown as KioskStatus };
    case "sim-state":
      return side === "teller" ? { kind: "sim-state", sim: payload as unknown as SimState } : null;
    case "desk":
      return isObject(payload.desk) ? { kind: "desk", desk: payload.desk as unknown as DeskView | CustomerDesk } : null;
    default:
      return null;
  }
}

/** A channel message (`{kind, …}`; a view comes as `{kind: "view", view}`) as a feed item. */
export function fromChannel<S extends Side>(side: S, message: unknown): FeedItem<ViewOf<S>> | null {
  if (!isObject(message) || typeof message.kind !== "string") return null;
  const { kind, ...rest } = message;
  if (kind === "view") return fromEvent(side, `${side}-view`, message.view);
  return fromEvent(side, kind, rest);
}

/** Whether `incoming` may replace `shown`: a view older than the one shown is ignored (the
 * same one again, e.g. from `procedure_view` after the event, is harmless). */
export function isNewer(shown: { seq: number } | null, incoming: { seq: number }): boolean {
  return shown === null || incoming.seq >= shown.seq;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isView(v: Record<string, unknown>): boolean {
  return typeof v.seq === "number" && typeof v.step === "string" && isObject(v.message);
}
