// Formatting helpers of the screens: pure functions of the view data and the language, tested
// without a browser. Nothing here holds state or talks to Rust.

import type { CodeB, HistoryRow, KeyView, Outcome, Procedure, Route, Step } from "./api";
import { codeText, reasonText, t, type Key, type Lang } from "./i18n";

/** Remaining time as `m:ss` (rounded up to the second, never negative). */
export function formatRemaining(ms: number | null): string | null {
  if (ms === null || !Number.isFinite(ms)) return null;
  const s = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** What is left of `remainingMs` (as sent at `receivedAt`) at `now` (same clock, ms). */
export function remainingAt(remainingMs: number | null, receivedAt: number, now: number): number | null {
  if (remainingMs === null) return null;
  return Math.max(0, remainingMs - Math.max(0, now - receivedAt));
}

/** The face models whose score is a distance (lower is more alike); the others are
 * similarities (higher is more alike). See crates/face/src/embed.rs. */
const DISTANCE_MODELS = new Set(["dlib"]);

export interface ScoreView {
  score: string;
  threshold: string;
  /** The score passes the threshold in the model's direction. */
  passes: boolean;
  higherIsBetter: boolean;
  /** "≥" / "<" (similarity) or "≤" / ">" (distance): score relation to threshold. */
  relation: string;
  /** Positions on a 0..1 bar. */
  scoreAt: number;
  thresholdAt: number;
}

/** A face score against its threshold, for the bar with the threshold mark. */
export function scoreView(score: number | null, threshold: number | null, model: string): ScoreView | null {
  if (score === null || threshold === null || !Number.isFinite(score) || !Number.isFinite(threshold)) return null;
  const higherIsBetter = !DISTANCE_MODELS.has(model);
  const passes = higherIsBetter ? score >= threshold : score <= threshold;
  const relation = higherIsBetter ? (passes ? "≥" : "<") : passes ? "≤" : ">";
  // The bar runs from 0 to 1, or further when a distance or threshold goes past 1.
  const top = Math.max(1, score, threshold);
  const at = (v: number) => Math.min(1, Math.max(0, v / top));
  return {
    score: score.toFixed(3),
    threshold: threshold.toFixed(3),
    passes,
    higherIsBetter,
    relation,
    scoreAt: at(score),
    thresholdAt: at(threshold),
  };
}

/** A fraction 0..1 as a whole percentage. */
export function percent(fraction: number | null | undefined): string {
  if (fraction === null || fraction === undefined || !Number.isFinite(fraction)) return "0%";
  return `${Math.round(Math.min(1, Math.max(0, fraction)) * 100)}%`;
}

/** A fraction clamped to 0..1 (for <progress>). */
export function clamp01(fraction: number | null | undefined): number {
  if (fraction === null || fraction === undefined || !Number.isFinite(fraction)) return 0;
  return Math.min(1, Math.max(0, fraction));
}

/** The short form of a session or record id: its first 8 characters, upper case. */
export function shortId(id: string | null | undefined): string {
  if (!id) return "—";
  return id.replace(/-/g, "").slice(0, 8).toUpperCase();
}

/** `HH:MM` in the machine's time zone. */
export function formatTime(lang: Lang, ms: number): string {
  return new Intl.DateTimeFormat(lang === "ja" ? "ja-JP" : "en-GB", {
    hour: "2-digit",
    minute: "2-digit",
    hour12: false,
  }).format(new Date(ms));
}

// ---- Outcomes ------------------------------------------------------------------------------

/** The symbol of each outcome: state is never told by colour alone. */
export const OUTCOME_SYMBOL: Record<Outcome, string> = {
  verified: "✓",
  not_verified: "✕",
  attack_suspected: "⚠",
  refused: "⊘",
  cancelled: "–",
  issued: "✓",
  code_issued: "✓",
  code_not_issued: "✕",
};

/** A calendar date (a credential's expiry) in the screen's language. */
export function formatDate(lang: Lang, ms: number): string {
  return new Intl.DateTimeFormat(lang === "ja" ? "ja-JP" : "en-GB", {
    year: "numeric",
    month: lang === "ja" ? "long" : "short",
    day: "numeric",
  }).format(new Date(ms));
}

export function outcomeText(lang: Lang, o: Outcome): string {
  return t(lang, `outcome.${o}` as Key);
}

/** Reasons that make a rejected session an attack (crates/flow: attack signs, clone). */
const ATTACK_REASONS = new Set(["challenge.failed", "pad.not_live", "card.clone_suspected"]);

/** The outcome of a history row, from what the ledger keeps (decision, end, reason). */
export function historyOutcome(row: HistoryRow): Outcome | null {
  switch (row.decision) {
    case "accepted":
      return "verified";
    case "referred":
      return "refused";
    case "rejected":
      return !row.overridden && row.reason !== null && ATTACK_REASONS.has(row.reason)
        ? "attack_suspected"
        : "not_verified";
    default:
      return row.end === "cancelled" || row.end === "failed" ? "cancelled" : null;
  }
}

export interface HistoryLine {
  sessionId: string;
  time: string;
  procedure: string;
  /** Outcome for `data-outcome` ("" while the session is open). */
  outcome: Outcome | "";
  /** End for `data-end` ("open" while running). */
  end: "completed" | "cancelled" | "failed" | "open";
  symbol: string;
  outcomeText: string;
  reason: string;
  overridden: boolean;
}

/** One row of today's history as the teller reads it (no personal data in or out). */
export function historyLine(lang: Lang, row: HistoryRow): HistoryLine {
  const outcome = historyOutcome(row);
  const endText = row.end === null ? t(lang, "history.in_progress") : t(lang, `end.${row.end}` as Key);
  const procKey = `procedure.${row.procedure}`;
  return {
    sessionId: row.sessionId,
    time: formatTime(lang, row.startedAtMs),
    procedure: procKey in PROCEDURES ? t(lang, procKey as Key) : codeText(lang, procKey),
    outcome: outcome ?? "",
    end: row.end ?? "open",
    symbol: outcome === null ? "…" : OUTCOME_SYMBOL[outcome],
    outcomeText: outcome === null || (outcome === "cancelled" && row.end === "failed") ? endText : outcomeText(lang, outcome),
    reason: row.reason === null ? "" : reasonText(lang, row.reason),
    overridden: row.overridden,
  };
}

const PROCEDURES = { "procedure.identity_verification": true } as const;

/** Newest first. */
export function historyLines(lang: Lang, rows: readonly HistoryRow[]): HistoryLine[] {
  return [...rows].sort((a, b) => b.startedAtMs - a.startedAtMs).map((r) => historyLine(lang, r));
}

// ---- The steps of a procedure --------------------------------------------------------------

export type Stage = "card" | "pin" | "reading" | "face" | "sign" | "review" | "qr" | "issue" | "code" | "result";

/** The stages of a procedure (and, for identity verification, its route) in order (the step
 * indicator). */
export function stagesOf(procedure: Procedure | null, route: Route | null, sign: boolean): Stage[] {
  if (procedure === "enrollment") return ["face", "issue", "result"];
  if (procedure === "face_qr_authentication") return ["qr", "face", "result"];
  if (procedure === "device_rebinding") return ["code", "result"];
  const stages: Stage[] = ["card"];
  if (route !== "code_b") stages.push("pin");
  stages.push("reading", "face");
  if (sign) stages.push("sign");
  stages.push("review", "result");
  return stages;
}

/** The stage a step belongs to. `card_back` interrupts whatever stage was on (`previous`). */
export function stageOf(step: Step, previous: Stage | null): Stage | null {
  switch (step) {
    case "idle":
      return null;
    case "wait_card":
      return "card";
    case "pin_entry":
      return "pin";
    case "code_b_entry":
    case "reading":
      return "reading";
    case "card_back":
      return previous ?? "card";
    case "face":
    case "camera_lost":
      return "face";
    case "sign_entry":
    case "signing":
      return "sign";
    case "review":
    case "recording":
      return "review";
    case "scan_qr":
    case "checking_qr":
      return "qr";
    case "duplicate_check":
    case "duplicate_review":
    case "issuing":
    case "show_qr":
      return "issue";
    case "requesting_code":
    case "show_code":
      return "code";
    case "result":
      return "result";
  }
}

// ---- 照合番号B as typed by the teller ------------------------------------------------------

export interface CodeBForm {
  birthDate: string;
  expiryYear: string;
  securityCode: string;
}

/** Checks what the teller typed from the card face (the rules of crates/flow's
 * `CodeBInput::check`, plus a real calendar date, so a typo is shown at once); the error codes
 * are Rust's own. */
export function checkCodeB(form: CodeBForm): { codeB: CodeB | null; errors: string[] } {
  const errors: string[] = [];
  const birth = form.birthDate.trim();
  const year = form.expiryYear.trim();
  const sec = form.securityCode.trim();
  if (birth === "" || year === "" || sec === "") errors.push("code_b.missing");
  if (birth !== "" && !validDate(birth)) errors.push("code_b.birth_date_invalid");
  if (year !== "" && !(/^\d{4}$/.test(year) && Number(year) >= 2014 && Number(year) <= 2100))
    errors.push("code_b.expiry_year_invalid");
  if (sec !== "" && !/^\d{4}$/.test(sec)) errors.push("code_b.security_code_invalid");
  if (errors.length > 0) return { codeB: null, errors };
  return { codeB: { birthDate: birth, expiryYear: Number(year), securityCode: sec }, errors };
}

function validDate(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (y < 1868 || y > 2100) return false;
  const date = new Date(Date.UTC(y, mo - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d;
}

// ---- Line breaks ---------------------------------------------------------------------------

/** A message cut into the pieces a line may break between.
 *
 * Japanese has no spaces, and a browser breaks it between any two characters: 「しばらく」
 * or 「パスワード」 would be cut in two. Here it is cut into short phrases (文節, roughly), by
 * the kind of each character: after 、。 and before an opening bracket; where a run of
 * hiragana (particles, endings) is followed by kanji, katakana or Latin letters — but not
 * inside a compound with one okurigana kana (読み取り), and an honorific お/ご goes with the
 * word after it (お待ちください). The screens let a line break only between the pieces
 * (unless one is wider than the line).
 *
 * English breaks at its spaces: it is cut into its sentences, and a bracketed part is kept
 * whole ("(3 tries left)").
 *
 * The pieces joined are the text again. */
export function phrases(lang: Lang, text: string): string[] {
  if (lang !== "ja") {
    const out = text.split(/(?<=\S[.!?]) (?=\S)|(?<=\S) (?=\()|(?<=\)) (?=\S)/);
    return out.map((p, i) => (i < out.length - 1 ? `${p} ` : p));
  }
  const chars = [...text];
  const kinds = chars.map(kindOf);
  const cuts = new Set<number>();
  for (let i = 1; i < chars.length; i++) {
    const prev = chars[i - 1] ?? "";
    const k = kinds[i];
    if (AFTER_PUNCT.has(prev) && !CLOSING.has(chars[i] ?? "")) cuts.add(i);
    else if (OPENING.has(chars[i] ?? "")) cuts.add(i);
    else if (kinds[i - 1] === "hira" && (k === "kanji" || k === "kata" || k === "latin")) {
      // The hiragana run before this word.
      let start = i - 1;
      while (start > 0 && kinds[start - 1] === "hira") start--;
      const run = i - start;
      const before = start > 0 ? kinds[start - 1] : null;
      if (run === 1 && (before === "kanji" || before === "kata") && !PARTICLES.has(prev)) continue; // 読み取り
      if (HONORIFIC.has(prev)) {
        if (run > 1) cuts.add(i - 1); // …にお顔 → に|お顔
        continue;
      }
      cuts.add(i);
    }
  }
  const out: string[] = [];
  let piece = "";
  chars.forEach((ch, i) => {
    if (cuts.has(i) && piece !== "") {
      out.push(piece);
      piece = "";
    }
    piece += ch;
  });
  if (piece !== "") out.push(piece);
  return out;
}

type CharKind = "hira" | "kata" | "kanji" | "latin" | "digit" | "other";
const AFTER_PUNCT = new Set(["、", "。", "，", "．", "・", "！", "？"]);
const OPENING = new Set(["(", "（", "「", "『", "【"]);
const CLOSING = new Set([")", "）", "」", "』", "】", "、", "。"]);
const PARTICLES = new Set(["を", "が", "に", "は", "で", "の", "と", "も", "へ", "や"]);
const HONORIFIC = new Set(["お", "ご"]);

function kindOf(ch: string): CharKind {
  const c = ch.codePointAt(0) ?? 0;
  if (c >= 0x3041 && c <= 0x309f) return "hira";
  if ((c >= 0x30a0 && c <= 0x30ff) || (c >= 0xff66 && c <= 0xff9f)) return "kata";
  if ((c >= 0x4e00 && c <= 0x9fff) || (c >= 0x3400 && c <= 0x4dbf) || c === 0x3005 || c === 0x30f6) return "kanji";
  if (/[A-Za-z\uff21-\uff3a\uff41-\uff5a]/.test(ch)) return "latin";
  if (/[0-9\uff10-\uff19]/.test(ch)) return "digit";
  return "other";
}

/** A security key's name on screen: the USB key in the screen's language, a simulated key by
 * its own label. */
export function keyLabel(lang: Lang, key: Pick<KeyView, "id" | "label">): string {
  return key.id === "usb" ? t(lang, "key.usb") : key.label;
}
