import { describe, expect, it } from "vitest";
import type { HistoryRow } from "./api";
import {
  checkCodeB,
  clamp01,
  formatRemaining,
  historyLine,
  historyLines,
  historyOutcome,
  keyLabel,
  percent,
  phrases,
  remainingAt,
  scoreView,
  shortId,
  stageOf,
  stagesOf,
} from "./format";

const row = (r: Partial<HistoryRow>): HistoryRow => ({
  sessionId: "s",
  procedure: "identity_verification",
  startedAtMs: new Date(2026, 0, 5, 9, 7).getTime(),
  endedAtMs: null,
  end: "completed",
  reason: null,
  decision: null,
  overridden: false,
  ...r,
});

describe("remaining time", () => {
  it("is m:ss rounded up, never negative", () => {
    expect(formatRemaining(null)).toBeNull();
    expect(formatRemaining(0)).toBe("0:00");
    expect(formatRemaining(1)).toBe("0:01");
    expect(formatRemaining(59_001)).toBe("1:00");
    expect(formatRemaining(125_000)).toBe("2:05");
    expect(formatRemaining(-5)).toBe("0:00");
  });

  it("counts down from when the view arrived", () => {
    expect(remainingAt(10_000, 1_000, 4_000)).toBe(7_000);
    expect(remainingAt(10_000, 1_000, 20_000)).toBe(0);
    expect(remainingAt(null, 0, 0)).toBeNull();
  });
});

describe("face score against threshold", () => {
  it("passes a similarity at or above the threshold", () => {
    const v = scoreView(0.612, 0.48, "sface");
    expect(v).toMatchObject({ score: "0.612", threshold: "0.480", passes: true, relation: "≥", higherIsBetter: true });
    expect(v?.scoreAt).toBeCloseTo(0.612);
    expect(v?.thresholdAt).toBeCloseTo(0.48);
    expect(scoreView(0.48, 0.48, "sface")?.passes).toBe(true);
    expect(scoreView(0.391, 0.48, "sface")).toMatchObject({ passes: false, relation: "<" });
  });

  it("passes a distance at or below the threshold (dlib)", () => {
    expect(scoreView(0.41, 0.543, "dlib")).toMatchObject({ passes: true, relation: "≤", higherIsBetter: false });
    expect(scoreView(0.7, 0.543, "dlib")).toMatchObject({ passes: false, relation: ">" });
  });

  it("keeps the bar inside 0..1", () => {
    const v = scoreView(1.4, 0.543, "dlib");
    expect(v?.scoreAt).toBe(1);
    expect(v?.thresholdAt).toBeCloseTo(0.543 / 1.4);
    expect(scoreView(-0.2, 0.48, "sface")?.scoreAt).toBe(0);
  });

  it("has nothing to show without a score", () => {
    expect(scoreView(null, 0.48, "sface")).toBeNull();
    expect(scoreView(0.5, null, "sface")).toBeNull();
  });
});

describe("small formats", () => {
  it("percent and clamp", () => {
    expect(percent(0.6)).toBe("60%");
    expect(percent(1.7)).toBe("100%");
    expect(percent(null)).toBe("0%");
    expect(clamp01(-1)).toBe(0);
    expect(clamp01(Number.NaN)).toBe(0);
    expect(clamp01(0.25)).toBe(0.25);
  });

  it("short ids", () => {
    expect(shortId("5f3c2a9e-1d4b-4c7e-9a21-6b0e8f7d1c33")).toBe("5F3C2A9E");
    expect(shortId(null)).toBe("—");
  });
});

describe("history rows", () => {
  it("derives the outcome from decision, end and reason", () => {
    expect(historyOutcome(row({ decision: "accepted" }))).toBe("verified");
    expect(historyOutcome(row({ decision: "referred", reason: "card.pin.one_try_left" }))).toBe("refused");
    expect(historyOutcome(row({ decision: "rejected", reason: "challenge.failed" }))).toBe("attack_suspected");
    expect(historyOutcome(row({ decision: "rejected", reason: "card.clone_suspected" }))).toBe("attack_suspected");
    expect(historyOutcome(row({ decision: "rejected", reason: "face.different_person" }))).toBe("not_verified");
    expect(historyOutcome(row({ decision: "rejected", reason: "teller.override", overridden: true }))).toBe("not_verified");
    expect(historyOutcome(row({ end: "cancelled", reason: "timeout.pin" }))).toBe("cancelled");
    expect(historyOutcome(row({ end: null }))).toBeNull();
  });

  it("reads as time, procedure, outcome and reason, without personal data", () => {
    const l = historyLine("ja", row({ decision: "referred", reason: "card.pin.one_try_left", endedAtMs: 1 }));
    expect(l.time).toBe("09:07");
    expect(l.procedure).toBe("本人確認");
    expect(l.outcome).toBe("refused");
    expect(l.outcomeText).toBe("照会せず");
    expect(l.reason).toContain("残り回数が1回");
    expect(l.end).toBe("completed");
    expect(l.symbol).toBe("⊘");
    const open = historyLine("en", row({ end: null }));
    expect(open).toMatchObject({ outcome: "", end: "open", outcomeText: "in progress" });
    const failed = historyLine("en", row({ end: "failed", reason: "card.pcsc" }));
    expect(failed.outcomeText).toBe("failed");
  });

  it("lists the newest first", () => {
    const lines = historyLines("en", [
      row({ sessionId: "a", startedAtMs: 1000 }),
      row({ sessionId: "b", startedAtMs: 3000 }),
      row({ sessionId: "c", startedAtMs: 2000 }),
    ]);
    expect(lines.map((l) => l.sessionId)).toEqual(["b", "c", "a"]);
  });

  it("shows an unknown procedure by its code", () => {
    expect(historyLine("en", row({ procedure: "face_qr" })).procedure).toContain("procedure.face_qr");
  });
});

describe("steps of a route", () => {
  it("lists the stages in order", () => {
    expect(stagesOf("identity_verification", "pin", false)).toEqual(["card", "pin", "reading", "face", "review", "result"]);
    expect(stagesOf("identity_verification", "code_b", true)).toEqual(["card", "reading", "face", "sign", "review", "result"]);
    expect(stagesOf("enrollment", null, false)).toEqual(["face", "issue", "result"]);
    expect(stagesOf("face_qr_authentication", null, false)).toEqual(["qr", "face", "result"]);
    expect(stagesOf("device_rebinding", null, false)).toEqual(["code", "result"]);
    expect(stageOf("show_code", null)).toBe("code");
  });

  it("places every step, card_back on the stage it interrupted", () => {
    expect(stageOf("idle", null)).toBeNull();
    expect(stageOf("pin_entry", "card")).toBe("pin");
    expect(stageOf("code_b_entry", "reading")).toBe("reading");
    expect(stageOf("card_back", "sign")).toBe("sign");
    expect(stageOf("card_back", null)).toBe("card");
    expect(stageOf("camera_lost", "face")).toBe("face");
    expect(stageOf("recording", "review")).toBe("review");
    expect(stageOf("scan_qr", null)).toBe("qr");
    expect(stageOf("checking_qr", "qr")).toBe("qr");
    expect(stageOf("show_qr", "issue")).toBe("issue");
  });
});

describe("照合番号B", () => {
  it("accepts what is on the card face", () => {
    expect(checkCodeB({ birthDate: "1988-04-12", expiryYear: "2031", securityCode: "0429" })).toEqual({
      codeB: { birthDate: "1988-04-12", expiryYear: 2031, securityCode: "0429" },
      errors: [],
    });
  });

  it("names each mistake with Rust's code", () => {
    expect(checkCodeB({ birthDate: "", expiryYear: "", securityCode: "" }).errors).toEqual(["code_b.missing"]);
    expect(checkCodeB({ birthDate: "1988-02-30", expiryYear: "31", securityCode: "12a4" }).errors).toEqual([
      "code_b.birth_date_invalid",
      "code_b.expiry_year_invalid",
      "code_b.security_code_invalid",
    ]);
    expect(checkCodeB({ birthDate: "1850-01-01", expiryYear: "2013", securityCode: "12345" }).errors).toEqual([
      "code_b.birth_date_invalid",
      "code_b.expiry_year_invalid",
      "code_b.security_code_invalid",
    ]);
  });
});

describe("phrases", () => {
  const cut = (text: string) => phrases("ja", text).join("|");

  it("cuts Japanese into short phrases, never inside a word", () => {
    expect(cut("係員がご案内します。しばらくお待ちください")).toBe("係員が|ご案内します。|しばらく|お待ちください");
    expect(cut("マイナンバーカードの暗証番号(数字4桁)を入力してください")).toBe(
      "マイナンバーカードの|暗証番号|(数字4桁)を|入力してください",
    );
    expect(cut("お客さまが署名用パスワードを入力しています(残り5回)")).toBe("お客さまが|署名用パスワードを|入力しています|(残り5回)");
    expect(cut("カメラの方を向き、画面の枠にお顔を合わせてください")).toBe("カメラの|方を|向き、|画面の|枠に|お顔を|合わせてください");
    expect(cut("読み取っています。カードを動かさずにお待ちください")).toBe("読み取っています。|カードを|動かさずに|お待ちください");
    expect(cut("カードをもう一度、読み取り機に置いてください")).toBe("カードをもう|一度、|読み取り機に|置いてください");
  });

  it("joins back to the text", () => {
    const long = "カードの暗証番号は、お住まいの市区町村の窓口で再設定していただけます。詳しくは係員がご案内します";
    expect(phrases("ja", long).join("")).toBe(long);
    expect(phrases("ja", "(残り2回)")).toEqual(["(残り2回)"]);
    expect(phrases("ja", "")).toEqual([]);
    expect(phrases("ja", "T-0421")).toEqual(["T-0421"]);
  });

  it("cuts English into sentences, keeps brackets whole", () => {
    expect(phrases("en", "Please wait a moment")).toEqual(["Please wait a moment"]);
    expect(phrases("en", "Please take your card. Thank you.")).toEqual(["Please take your card. ", "Thank you."]);
    expect(phrases("en", "The customer is typing the PIN (3 tries left)")).toEqual([
      "The customer is typing the PIN ",
      "(3 tries left)",
    ]);
    expect(phrases("en", "Your office (市区町村の窓口) can reset it. Thank you.")).toEqual([
      "Your office ",
      "(市区町村の窓口) ",
      "can reset it. ",
      "Thank you.",
    ]);
  });
});

describe("security key labels", () => {
  it("names the USB key in the screen's language and a simulated key by its label", () => {
    expect(keyLabel("ja", { id: "usb", label: "USB security key" })).toBe("USB セキュリティキー");
    expect(keyLabel("en", { id: "usb", label: "whatever" })).toBe("USB security key");
    expect(keyLabel("en", { id: "sim:sato", label: "佐藤 美咲" })).toBe("佐藤 美咲");
  });
});
