import { describe, expect, it } from "vitest";
import { formatClock, missingKeys, other, parseLang, t } from "./i18n";

describe("i18n", () => {
  it("has every key in both languages", () => {
    expect(missingKeys()).toEqual([]);
  });

  it("fills parameters and leaves unknown ones visible", () => {
    expect(t("en", "backend.reachable", { latencyMs: 12, backlog: 0 })).toBe(
      "Connected (12 ms, 0 unsent)",
    );
    expect(t("ja", "backend.unhealthy", { status: 503 })).toContain("503");
    expect(t("en", "reader.card_present", {})).toBe("{name} (card present)");
  });

  it("switches language", () => {
    expect(other("ja")).toBe("en");
    expect(other("en")).toBe("ja");
    expect(t("ja", "teller.ready")).not.toBe(t("en", "teller.ready"));
    expect(parseLang("en", "ja")).toBe("en");
    expect(parseLang("fr", "ja")).toBe("ja");
    expect(parseLang(null, "en")).toBe("en");
  });

  it("formats the clock in each language", () => {
    const d = new Date(2026, 10, 21, 9, 5, 7);
    expect(formatClock("ja", d)).toContain("2026年11月21日");
    expect(formatClock("ja", d)).toContain("09:05:07");
    expect(formatClock("en", d)).toContain("Nov 2026");
  });
});
