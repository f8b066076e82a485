import { describe, expect, it } from "vitest";
import codes from "../generated-codes.json";
import {
  allKeys,
  codeText,
  customerText,
  emptyKeys,
  formatClock,
  isKey,
  LANGS,
  missingKeys,
  other,
  parseLang,
  placeholders,
  reasonText,
  t,
  type Key,
} from "./i18n";

describe("i18n", () => {
  it("has every key in both languages, none empty", () => {
    expect(missingKeys()).toEqual([]);
    expect(emptyKeys()).toEqual([]);
  });

  it("has a text in both languages for every code Rust may send", () => {
    const missing = (codes as string[]).filter((c) => !isKey(c));
    expect(missing).toEqual([]);
    for (const c of codes as string[]) {
      for (const lang of LANGS) expect(codeText(lang, c)).not.toBe(t(lang, "code.unknown", { code: c }));
    }
  });

  it("uses the same placeholders in both languages", () => {
    const differ = allKeys().filter(
      (k) => placeholders("ja", k as Key).join() !== placeholders("en", k as Key).join(),
    );
    expect(differ).toEqual([]);
  });

  it("fills the tries of the messages that carry them", () => {
    for (const c of ["notice.pin_wrong", "notice.password_wrong", "notice.code_b_wrong", "teller.pin_entry", "teller.sign_entry"]) {
      expect(codeText("ja", c, { tries: 2 })).toContain("2");
      expect(codeText("en", c, { tries: 2 })).toContain("2");
    }
  });

  it("says nothing about tries when they are unknown (tries = -1)", () => {
    expect(codeText("ja", "teller.pin_entry", { tries: -1 })).not.toContain("-1");
    expect(codeText("en", "teller.sign_entry", { tries: -1 })).toBe("The customer is typing the signing password");
  });

  it("shows an unknown code instead of hiding it", () => {
    expect(codeText("en", "card.exploded")).toContain("card.exploded");
  });

  it("gives the customer their own wording of a shared notice", () => {
    expect(customerText("ja", "notice.pin_wrong", { tries: 2 })).toBe(
      "暗証番号が違います。もう一度入力してください(残り2回)",
    );
    expect(codeText("ja", "notice.pin_wrong", { tries: 2 })).toContain("ご案内ください");
    expect(customerText("en", "customer.type_pin")).toBe("Please enter your My Number card PIN (4 digits).");
  });

  it("reads a reason as a reason", () => {
    expect(reasonText("ja", "face.none")).toBe("顔を検出できませんでした");
    expect(reasonText("en", "face.match")).toBe("Matches the card photo");
  });

  it("tells the teller what to do with one try left", () => {
    expect(codeText("ja", "card.pin.one_try_left")).toBe(
      "暗証番号の残り回数が1回のため照会しません。市区町村窓口での再設定をご案内ください",
    );
    expect(codeText("ja", "customer.done_municipality")).toContain("市区町村の窓口");
  });

  it("fills parameters and leaves unknown ones visible", () => {
    expect(t("en", "backend.reachable", { latencyMs: 12, backlog: 0 })).toBe(
      "Connected (12 ms, 0 unsent)",
    );
    expect(t("ja", "backend.unhealthy", { status: 503 })).toContain("503");
    expect(t("en", "reader.card_present", {})).toBe("{name} (card present)");
  });

  it("keeps the titles the end-to-end test reads", () => {
    expect(t("ja", "teller.title")).toBe("窓口端末");
    expect(t("en", "teller.title")).toBe("Teller console");
    expect(t("ja", "customer.welcome")).toBe("いらっしゃいませ");
    expect(t("en", "customer.welcome")).toBe("Welcome");
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
