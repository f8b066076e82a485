import { describe, expect, it } from "vitest";
import { allDevicesOk, describeDevice, describeError, type KioskStatus } from "./status";

const base: KioskStatus = {
  version: "0.1.0",
  kioskId: "K-1",
  branchCode: "001",
  language: "ja",
  simulate: true,
  singleScreen: false,
  devices: [],
  probedAt: 0,
};

describe("device status", () => {
  it("describes a missing simulator honestly in both languages", () => {
    const d = {
      kind: "camera" as const,
      mode: "simulated" as const,
      state: "missing" as const,
      detail: "camera.sim_missing",
      params: { file: "sim/customer.jpg" },
    };
    const en = describeDevice("en", d);
    expect(en.name).toBe("Camera");
    expect(en.mode).toBe("simulator");
    expect(en.stateText).toBe("Missing");
    expect(en.symbol).toBe("—");
    expect(en.detail).toBe("Simulator image sim/customer.jpg not found");
    expect(describeDevice("ja", d).name).toBe("カメラ");
  });

  it("names the simulated reader with its card", () => {
    const v = describeDevice("ja", {
      kind: "reader",
      mode: "simulated",
      state: "ok",
      detail: "reader.card_present",
      params: { name: "Virtual PCD 00 00" },
    });
    expect(v.detail).toBe("Virtual PCD 00 00(カードあり)");
    expect(v.symbol).toBe("✓");
  });

  it("shows an unknown detail code instead of hiding it", () => {
    const v = describeDevice("en", {
      kind: "camera",
      mode: "hardware",
      state: "error",
      detail: "camera.exploded",
      params: {},
    });
    expect(v.detail).toContain("camera.exploded");
  });

  it("is all-ok only with devices that are all ok", () => {
    expect(allDevicesOk(base)).toBe(false);
    const ok = { kind: "backend" as const, mode: "hardware" as const, state: "ok" as const, detail: "backend.reachable", params: { latencyMs: 3, backlog: 0 } };
    expect(allDevicesOk({ ...base, devices: [ok] })).toBe(true);
    expect(allDevicesOk({ ...base, devices: [ok, { ...ok, state: "missing" }] })).toBe(false);
  });

  it("translates UI errors by code", () => {
    expect(describeError("en", { code: "status.unavailable", message: "x" })).toBe(
      "The device status is unavailable",
    );
    expect(describeError("en", { code: "nope", message: "x" })).toContain("nope");
  });
});
