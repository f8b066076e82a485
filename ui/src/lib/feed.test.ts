import { describe, expect, it } from "vitest";
import { fromChannel, fromEvent, isNewer } from "./feed";

const view = (seq: number) => ({ seq, step: "idle", message: { code: "teller.idle", params: {} } });

describe("view order", () => {
  it("ignores a view older than the one shown", () => {
    expect(isNewer(null, { seq: 1 })).toBe(true);
    expect(isNewer({ seq: 5 }, { seq: 6 })).toBe(true);
    expect(isNewer({ seq: 5 }, { seq: 5 })).toBe(true);
    expect(isNewer({ seq: 5 }, { seq: 4 })).toBe(false);
  });
});

describe("feed", () => {
  it("takes its own side's view only", () => {
    expect(fromEvent("customer", "teller-view", view(1))).toBeNull();
    expect(fromEvent("customer", "sim-state", {})).toBeNull();
  });

  it("turns events into items", () => {
    expect(fromEvent("teller", "teller-view", view(3))).toEqual({ kind: "view", view: view(3) });
    expect(fromEvent("teller", "teller-view", { seq: "x" })).toBeNull();
    expect(fromEvent("customer", "read-progress", { file: "f", fraction: 0.5 })).toEqual({
      kind: "read-progress",
      progress: { file: "f", fraction: 0.5 },
    });
    expect(fromEvent("teller", "face-progress", null)).toBeNull();
  });

  it("turns channel messages into the same items", () => {
    expect(fromChannel("customer", { kind: "view", view: view(7) })).toEqual({ kind: "view", view: view(7) });
    expect(fromChannel("teller", { kind: "preview-frame", seq: 2, jpeg: "data:", width: 4, height: 3 })).toEqual({
      kind: "preview-frame",
      frame: { seq: 2, jpeg: "data:", width: 4, height: 3 },
    });
    expect(fromChannel("customer", { kind: "sim-state", faces: [] })).toBeNull();
    expect(fromChannel("teller", "nope")).toBeNull();
    expect(fromChannel("teller", { kind: "unknown" })).toBeNull();
  });
});
