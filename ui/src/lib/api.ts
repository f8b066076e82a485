// The contract between the screens and the Rust side (src-tauri/src/dto.rs, screens.rs and
// commands.rs): the messages each window receives on its own channel and the commands it may
// send.
// Rust sends codes, never sentences; every code is translated by i18n.ts.
//
// Which window may send what is enforced in Rust twice: by the window's capability
// (src-tauri/capabilities/*.json) and by the command itself checking the caller's label. The
// customer display sends only keypad presses; the teller console starts, confirms, overrides
// and cancels. PIN and password characters are never held here: each key press goes to Rust
// at once and the page learns only how many characters were typed.

import { Channel, invoke } from "@tauri-apps/api/core";

export interface Msg {
  code: string;
  params: Record<string, number>;
}

export type Step =
  | "idle"
  | "wait_card"
  | "code_b_entry"
  | "pin_entry"
  | "reading"
  | "card_back"
  | "face"
  | "camera_lost"
  | "sign_entry"
  | "signing"
  | "review"
  | "recording"
  | "scan_qr"
  | "checking_qr"
  | "duplicate_check"
  | "duplicate_review"
  | "issuing"
  | "show_qr"
  | "requesting_code"
  | "show_code"
  | "result";

export type Route = "pin" | "code_b";
export type Outcome = "verified" | "not_verified" | "attack_suspected" | "refused" | "cancelled" | "issued" | "code_issued" | "code_not_issued";
export type Procedure = "identity_verification" | "enrollment" | "face_qr_authentication" | "device_rebinding";
export type Challenge = "random" | "left" | "right" | "none";

export interface Actions {
  start: boolean;
  cancel: boolean;
  confirm: boolean;
  override: boolean;
  next: boolean;
  codeB: boolean;
  skipSign: boolean;
  /** At review of a verified identity: confirm and issue a face credential. */
  enroll: boolean;
  /** At review of a verified identity: confirm and re-bind the passkey device. */
  rebind: boolean;
}

export interface Checks {
  textIntegrity: boolean;
  cardFaceSignature: boolean;
  chipChallenge: boolean;
  authCertificate: boolean;
  testHierarchy: boolean;
}

/** The chip data: personal, sent to the teller console only. */
export interface ChipView {
  route: Route;
  /** PIN route: text from the chip. */
  name: string | null;
  address: string | null;
  /** 照合番号B route: the chip's own images (data: URLs, PNG). */
  nameImage: string | null;
  addressImage: string | null;
  birthDate: string;
  sex: "male" | "female" | "other";
  cardExpiry: string;
  /** The chip photo (data: URL, PNG). */
  photo: string;
  checks: Checks;
  authCertificate: { serial: string; validTo: string; validToday: boolean } | null;
  myNumberRead: boolean;
}

export interface FaceView {
  decision: "match" | "no_match" | "attack_suspected" | "no_face";
  reasons: string[];
  score: number | null;
  threshold: number | null;
  model: string;
  quality: number | null;
  passive: { depth: number; threshold: number; live: boolean } | null;
  challenge: { turn: "left" | "right"; result: "passed" | "failed" | "timed_out" } | null;
  /** The captured face (data: URL, JPEG). */
  capture: string | null;
  decisionMs: number | null;
}

export interface ResultView {
  outcome: Outcome;
  reason: string;
  score: number | null;
  threshold: number | null;
  overridden: boolean;
  sessionId: string | null;
  confirmationId: string | null;
  triesLeft: number | null;
}

export interface SignatureView {
  state: "pending" | "signed" | "skipped";
  reason: string | null;
}

/** The face credential just issued (ids and dates; the QR itself is on the customer display). */
export interface IssuedView {
  credentialId: string;
  issuerKid: string;
  templateKid: string;
  issuedAtMs: number;
  expiresAtMs: number;
}

/** Message `view` on the teller console's subscription. */
export interface TellerView {
  seq: number;
  step: Step;
  procedure: Procedure | null;
  route: Route | null;
  remainingMs: number | null;
  message: Msg;
  notice: Msg | null;
  actions: Actions;
  triesLeft: number | null;
  chip: ChipView | null;
  face: FaceView | null;
  proposed: { outcome: Outcome; reason: string } | null;
  signature: SignatureView | null;
  result: ResultView | null;
  issued: IssuedView | null;
  teller: { id: string; verified: boolean } | null;
}

export interface KeypadView {
  kind: "pin" | "password";
  typed: number;
  min: number;
  max: number;
  triesLeft: number | null;
}

export type Picture = "welcome" | "card" | "keypad" | "wait" | "camera" | "done" | "teller" | "phone";

/** Message `view` on the customer display's subscription: guidance, no personal data. */
export interface CustomerView {
  seq: number;
  step: Step;
  remainingMs: number | null;
  message: Msg;
  notice: Msg | null;
  picture: Picture;
  keypad: KeypadView | null;
  camera: boolean;
  /** Show the live preview with the QR guide (the customer holds up the phone). */
  qrGuide: boolean;
  /** The new face credential's QR (data: URL, PNG) for the customer's phone to save. */
  qr: string | null;
  outcome: Outcome | null;
}

/** Message `read-progress` (both sides): a card read advanced. */
export interface ReadProgress {
  file: string;
  fraction: number;
}

/** Message `face-progress` (both sides): one tracked frame. `box` is [left, top, width, height] as fractions
 * of the frame. */
export interface FaceProgress {
  challenge: boolean;
  guidance: string;
  progress: number;
  faces: number;
  quality: number | null;
  box: [number, number, number, number] | null;
}

/** Message `preview-frame` (both sides): the live camera picture while a face check runs
 * (≥ 10 per second). */
export interface PreviewFrame {
  seq: number;
  /** data: URL, JPEG. */
  jpeg: string;
  width: number;
  height: number;
}

/** One row of today's history (teller console), no personal data. */
// PROPOSED: an `outcome: Outcome | null` field on HistoryRow. The ledger keeps decision, end
// and reason, and the screen derives the outcome from them (lib/format.ts historyOutcome:
// accepted → verified, referred → refused, rejected with an attack reason → attack suspected);
// Rust knows the outcome and could say it, so the history never disagrees with the result.
export interface HistoryRow {
  sessionId: string;
  procedure: string;
  startedAtMs: number;
  endedAtMs: number | null;
  end: "completed" | "cancelled" | "failed" | null;
  reason: string | null;
  decision: "accepted" | "rejected" | "referred" | null;
  overridden: boolean;
}

export interface History {
  rows: HistoryRow[];
  backlog: number;
}

/** Simulation only (teller console): the simulator panel's state, message `sim-state`. */
export interface SimState {
  profiles: { name: string; summary: string; variant: string }[];
  card: { inserted: boolean; profile: string };
  faces: string[];
  presenter: { face: string; kind: "customer" | "held_photo" };
  camera: { plugged: boolean };
  /** The simulated customer's phone: whether it holds a face credential. */
  phone: { credential: boolean };
}

export interface CodeB {
  birthDate: string;
  expiryYear: number;
  securityCode: string;
}

export interface StartIdentity {
  route: Route;
  sign: boolean;
  challenge: Challenge;
  codeB: CodeB | null;
}

export type KeypadKey = string; // "0".."9", "A".."Z", "backspace", "clear", "enter"

/** What a window's subscription delivers. The teller console and the customer display each
 * get their own side's messages only: the Rust side sends them over the channel the window
 * itself opened (not as app-wide events, which any page could listen to). */
export type Message =
  | { kind: "view"; view: TellerView | CustomerView }
  | ({ kind: "read-progress" } & ReadProgress)
  | ({ kind: "face-progress" } & FaceProgress)
  | ({ kind: "preview-frame" } & PreviewFrame)
  | ({ kind: "sim-state" } & SimState);

/** Subscribes this window to its side's messages (the current view arrives at once). Call
 * once per page load. `device-status` stays an ordinary Tauri event (no personal data). */
export async function subscribe(onMessage: (m: Message) => void): Promise<void> {
  const channel = new Channel<Message>();
  channel.onmessage = onMessage;
  await invoke("procedure_subscribe", { channel });
}

// Commands. Each rejects with {code, message} (message: technician English).
/** A security key the teller may pick (simulation: the simulated keys). */
export interface KeyView {
  id: string;
  label: string;
  simulated: boolean;
  plugged: boolean;
}

export type Role = "teller" | "supervisor" | "technician";

/** Who is signed in at the counter (teller console's `desk` message). */
export interface DeskView {
  signedIn: { id: string; name: string; role: Role; softKey: boolean; sinceMs: number } | null;
  unlocked: boolean;
  keys: KeyView[];
  idleSeconds: number;
}

/** The customer display's `desk` message: whether someone serves customers. */
export interface CustomerDesk {
  open: boolean;
}

export interface TellerEntry {
  id: string;
  name: string;
  role: Role;
  enabled: boolean;
  keys: number;
}

/** A key and the PIN it verifies its holder with; the PIN goes to Rust once, never kept. */
export interface KeyRequest {
  key: string;
  pin: string;
}

export const api = {
  deskState: () => invoke<DeskView>("desk_state"),
  signIn: (request: KeyRequest) => invoke<DeskView>("desk_sign_in", { request }),
  signOut: () => invoke<DeskView>("desk_sign_out"),
  touch: () => invoke<void>("desk_touch"),
  tellers: () => invoke<TellerEntry[]>("desk_tellers"),
  registerKey: (tellerId: string, label: string, key: KeyRequest) =>
    invoke<TellerEntry>("desk_register_key", { request: { tellerId, label, key } }),
  simKeyPlug: (key: string, plugged: boolean) => invoke<DeskView>("sim_key_plug", { key, plugged }),
  procedureView: () => invoke<TellerView | CustomerView>("procedure_view"),
  identityStart: (request: StartIdentity) => invoke<void>("identity_start", { request }),
  codeB: (code: CodeB) => invoke<void>("procedure_code_b", { code }),
  confirm: () => invoke<void>("procedure_confirm"),
  confirmEnroll: () => invoke<void>("procedure_confirm_enroll"),
  confirmRebind: () => invoke<void>("procedure_confirm_rebind"),
  qrAuthStart: (challenge: Challenge, rebind = false) => invoke<void>("qr_auth_start", { challenge, rebind }),
  override: (accept: boolean, reason: string, approval: KeyRequest | null) =>
    invoke<void>("procedure_override", { accept, reason, approval }),
  cancel: () => invoke<void>("procedure_cancel"),
  next: () => invoke<void>("procedure_next"),
  skipSign: () => invoke<void>("procedure_skip_sign"),
  history: () => invoke<History>("history_today"),
  keypadPress: (key: KeypadKey) => invoke<void>("keypad_press", { key }),
  simState: () => invoke<SimState>("sim_state"),
  /** `removeAfter`: the card leaves the reader after that many more APDUs (pulled mid-read). */
  simCard: (insert: boolean, profile: string | null, removeAfter: number | null = null) =>
    invoke<void>("sim_card", { insert, profile, removeAfter }),
  simPresenter: (face: string, kind: "customer" | "held_photo") => invoke<void>("sim_presenter", { face, kind }),
  simCamera: (plugged: boolean) => invoke<void>("sim_camera", { plugged }),
  simPhoneClear: () => invoke<void>("sim_phone_clear"),
};
