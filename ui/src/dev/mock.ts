// DEVELOPMENT ONLY (madoguchi-dev-mock). Never part of the shipped bundle: main.ts imports this module only under
// `import.meta.env.DEV` (vite dev) or the `mock` build mode (dist-mock/, for screenshots), and
// a test checks that dist/ holds none of it.
//
// Without Tauri, this mock answers the commands of lib/api.ts and emits the events, so the
// screens can be looked at and clicked through in a browser. The people, cards and faces are
// drawn here and fictitious (見本 = "sample").
//
//   index.html?scene=review_ok&lang=en#teller   one step, held still (screenshots)
//   index.html#customer                          an interactive counter (start, type, confirm…)

import type { Channel } from "@tauri-apps/api/core";
import { mockIPC } from "@tauri-apps/api/mocks";
import type {
  Actions,
  CustomerView,
  FaceProgress,
  FaceView,
  History,
  KeypadView,
  Msg,
  Outcome,
  Picture,
  PreviewFrame,
  ResultView,
  Route,
  SimState,
  Step,
  TellerView,
} from "../lib/api";
import type { KioskStatus } from "../lib/status";

type Side = "teller" | "customer";

const params = new URLSearchParams(window.location.search);
const LANG = params.get("lang") === "en" ? "en" : "ja";
const SCENE = params.get("scene");

// ---- Pictures drawn on a canvas ------------------------------------------------------------

function canvas(w: number, h: number): [HTMLCanvasElement, CanvasRenderingContext2D] {
  const c = document.createElement("canvas");
  c.width = w;
  c.height = h;
  const g = c.getContext("2d");
  if (!g) throw new Error("no 2d canvas");
  return [c, g];
}

/** A drawn person: head at (cx, cy) of height h, turned by `turn` (-1 left … 1 right). */
function drawPerson(g: CanvasRenderingContext2D, cx: number, cy: number, h: number, turn: number, grey: boolean): void {
  const skin = grey ? "#b9b9b9" : "#e9c2a0";
  const hair = grey ? "#3a3a3a" : "#2b211c";
  const shirt = grey ? "#6f6f6f" : "#2f4f8f";
  g.fillStyle = shirt;
  g.beginPath();
  g.ellipse(cx, cy + h * 1.05, h * 0.85, h * 0.45, 0, Math.PI, 0);
  g.fill();
  g.fillStyle = skin;
  g.fillRect(cx - h * 0.13, cy + h * 0.35, h * 0.26, h * 0.35);
  g.beginPath();
  g.ellipse(cx, cy, h * 0.36, h * 0.48, 0, 0, Math.PI * 2);
  g.fill();
  g.fillStyle = hair;
  g.beginPath();
  g.ellipse(cx, cy - h * 0.2, h * 0.4, h * 0.33, 0, Math.PI, 0);
  g.fill();
  const dx = turn * h * 0.1;
  g.fillStyle = "#222";
  for (const ex of [-0.14, 0.14]) {
    g.beginPath();
    g.ellipse(cx + ex * h + dx, cy - h * 0.02, h * 0.035, h * 0.025, 0, 0, Math.PI * 2);
    g.fill();
  }
  g.strokeStyle = grey ? "#555" : "#a0522d";
  g.lineWidth = Math.max(1, h * 0.02);
  g.beginPath();
  g.moveTo(cx + dx * 1.6, cy + h * 0.02);
  g.lineTo(cx + dx * 1.6 - h * 0.03, cy + h * 0.14);
  g.stroke();
  g.beginPath();
  g.arc(cx + dx, cy + h * 0.2, h * 0.09, 0.15 * Math.PI, 0.85 * Math.PI);
  g.stroke();
}

function chipPhoto(): string {
  const [c, g] = canvas(150, 188);
  g.fillStyle = "#d8d8d8";
  g.fillRect(0, 0, 150, 188);
  drawPerson(g, 75, 88, 110, 0, true);
  return c.toDataURL("image/png");
}

function capture(): string {
  const [c, g] = canvas(240, 280);
  const grad = g.createLinearGradient(0, 0, 0, 280);
  grad.addColorStop(0, "#8aa1b8");
  grad.addColorStop(1, "#55697d");
  g.fillStyle = grad;
  g.fillRect(0, 0, 240, 280);
  drawPerson(g, 120, 130, 170, 0, false);
  return c.toDataURL("image/jpeg", 0.85);
}

function textImage(text: string, w: number, h: number, size: number): string {
  const [c, g] = canvas(w, h);
  g.fillStyle = "#fff";
  g.fillRect(0, 0, w, h);
  g.fillStyle = "#000";
  g.font = `${size}px "Noto Serif CJK JP", "Noto Sans CJK JP", serif`;
  g.textBaseline = "middle";
  g.fillText(text, 8, h / 2);
  return c.toDataURL("image/png");
}

const W = 640;
const H = 480;
const [frameCanvas, fg] = canvas(W, H);
function previewFrame(n: number, turn: number): PreviewFrame {
  const grad = fg.createLinearGradient(0, 0, W, H);
  grad.addColorStop(0, "#9db3c9");
  grad.addColorStop(1, "#4f6275");
  fg.fillStyle = grad;
  fg.fillRect(0, 0, W, H);
  fg.fillStyle = "#c9b79c";
  fg.fillRect(0, H * 0.78, W, H * 0.22);
  // The person stands a little to the camera's left (to show the mirror on the customer side).
  drawPerson(fg, W * 0.44 + Math.sin(n / 9) * 4, H * 0.45, 230, turn, false);
  return { seq: n, jpeg: frameCanvas.toDataURL("image/jpeg", 0.8), width: W, height: H };
}

// ---- Views ---------------------------------------------------------------------------------

const NO_ACTIONS: Actions = { start: false, cancel: false, confirm: false, override: false, next: false, codeB: false, skipSign: false, enroll: false, rebind: false };
const msg = (code: string, p: Record<string, number> = {}): Msg => ({ code, params: p });

let seq = 1;

interface Scene {
  step: Step;
  route: Route | null;
  remainingMs: number | null;
  teller: Partial<TellerView>;
  customer: Partial<CustomerView>;
}

function pinPad(typed: number, tries: number | null): KeypadView {
  return { kind: "pin", typed, min: 4, max: 4, triesLeft: tries };
}

function faceView(kind: "ok" | "attack"): FaceView {
  return kind === "ok"
    ? {
        decision: "match",
        reasons: [],
        score: 0.612,
        threshold: 0.48,
        model: "sface",
        quality: 78,
        passive: { depth: 0.412, threshold: 0.1826, live: true },
        challenge: { turn: "left", result: "passed" },
        capture: capture(),
        decisionMs: 640,
      }
    : {
        decision: "attack_suspected",
        reasons: ["challenge.failed", "pad.not_live"],
        score: 0.391,
        threshold: 0.48,
        model: "sface",
        quality: 55,
        passive: { depth: 0.071, threshold: 0.1826, live: false },
        challenge: { turn: "right", result: "failed" },
        capture: capture(),
        decisionMs: 910,
      };
}

function chipView(route: Route): TellerView["chip"] {
  const text = route === "pin";
  return {
    route,
    name: text ? "見本 花子" : null,
    address: text ? "東京都千代田区見本町一丁目2番3号 見本マンション405" : null,
    nameImage: text ? null : textImage("見本 太郎", 420, 56, 38),
    addressImage: text ? null : textImage("大阪府大阪市北区見本町4丁目5番6号", 620, 56, 32),
    birthDate: text ? "1988-04-12" : "1975-11-03",
    sex: text ? "female" : "male",
    cardExpiry: "2031-04-12",
    photo: chipPhoto(),
    checks: { textIntegrity: true, cardFaceSignature: true, chipChallenge: true, authCertificate: text, testHierarchy: true },
    authCertificate: text ? { serial: "0A1B2C", validTo: "2031-04-12", validToday: true } : null,
    myNumberRead: false,
  };
}

function resultView(outcome: Outcome, reason: string, extra: Partial<ResultView> = {}): ResultView {
  return {
    outcome,
    reason,
    score: null,
    threshold: null,
    overridden: false,
    sessionId: "5f3c2a9e-1d4b-4c7e-9a21-6b0e8f7d1c33",
    confirmationId: null,
    triesLeft: null,
    ...extra,
  };
}

const SCENES: Record<string, () => Scene> = {
  idle: () => ({ step: "idle", route: null, remainingMs: null, teller: {}, customer: {} }),
  wait_card: () => ({ step: "wait_card", route: "pin", remainingMs: 87_000, teller: {}, customer: {} }),
  pin_entry: () => ({
    step: "pin_entry",
    route: "pin",
    remainingMs: 52_000,
    teller: { triesLeft: 3, message: msg("teller.pin_entry", { tries: 3 }) },
    customer: { keypad: pinPad(2, 3) },
  }),
  pin_wrong: () => ({
    step: "pin_entry",
    route: "pin",
    remainingMs: 58_000,
    teller: { triesLeft: 2, message: msg("teller.pin_entry", { tries: 2 }), notice: msg("notice.pin_wrong", { tries: 2 }) },
    customer: { keypad: pinPad(0, 2), notice: msg("notice.pin_wrong", { tries: 2 }) },
  }),
  reading: () => ({ step: "reading", route: "pin", remainingMs: 25_000, teller: {}, customer: {} }),
  card_back: () => ({ step: "card_back", route: "pin", remainingMs: 28_000, teller: {}, customer: {} }),
  face: () => ({ step: "face", route: "pin", remainingMs: 19_000, teller: {}, customer: {} }),
  sign_entry: () => ({
    step: "sign_entry",
    route: "pin",
    remainingMs: 70_000,
    teller: { triesLeft: 5, message: msg("teller.sign_entry", { tries: 5 }), signature: { state: "pending", reason: null } },
    customer: { keypad: { kind: "password", typed: 7, min: 6, max: 16, triesLeft: 5 } },
  }),
  code_b_entry: () => ({
    step: "code_b_entry",
    route: "code_b",
    remainingMs: 110_000,
    teller: { triesLeft: 9, notice: msg("notice.code_b_wrong", { tries: 9 }) },
    customer: {},
  }),
  review_ok: () => ({
    step: "review",
    route: "pin",
    remainingMs: 170_000,
    teller: {
      chip: chipView("pin"),
      face: faceView("ok"),
      proposed: { outcome: "verified", reason: "face.match" },
      signature: { state: "signed", reason: null },
      notice: msg("notice.signed"),
    },
    customer: {},
  }),
  review_attack: () => ({
    step: "review",
    route: "code_b",
    remainingMs: 165_000,
    teller: {
      chip: chipView("code_b"),
      face: faceView("attack"),
      proposed: { outcome: "attack_suspected", reason: "challenge.failed" },
      signature: { state: "skipped", reason: "sign.no_match" },
    },
    customer: {},
  }),
  result_ok: () => ({
    step: "result",
    route: null,
    remainingMs: 40_000,
    teller: { result: resultView("verified", "face.match", { score: 0.612, threshold: 0.48, confirmationId: "c-7e41d2b0-aa19-4f1e-8d2c-1b7a0c9e5f64" }) },
    customer: { outcome: "verified" },
  }),
  result_refused: () => ({
    step: "result",
    route: null,
    remainingMs: 40_000,
    teller: { triesLeft: 1, result: resultView("refused", "card.pin.one_try_left", { triesLeft: 1 }) },
    customer: { outcome: "refused" },
  }),
  result_attack: () => ({
    step: "result",
    route: null,
    remainingMs: 40_000,
    teller: { result: resultView("attack_suspected", "challenge.failed", { score: 0.391, threshold: 0.48, confirmationId: "c-19ab" }) },
    customer: { outcome: "attack_suspected" },
  }),
  result_cancelled: () => ({
    step: "result",
    route: null,
    remainingMs: 40_000,
    teller: { result: resultView("cancelled", "timeout.pin") },
    customer: { outcome: "cancelled" },
  }),
};

const TELLER_MSG: Record<Step, string> = {
  idle: "teller.idle",
  wait_card: "teller.wait_card",
  code_b_entry: "teller.code_b_entry",
  pin_entry: "teller.pin_entry",
  reading: "teller.reading",
  card_back: "teller.card_back",
  face: "teller.face",
  camera_lost: "teller.camera_lost",
  sign_entry: "teller.sign_entry",
  signing: "teller.signing",
  review: "teller.review",
  recording: "teller.recording",
  scan_qr: "teller.scan_qr",
  checking_qr: "teller.checking_qr",
  duplicate_check: "teller.duplicate_check",
  duplicate_review: "teller.duplicate_review",
  issuing: "teller.issuing",
  show_qr: "teller.show_qr",
  requesting_code: "teller.requesting_code",
  show_code: "teller.show_code",
  result: "teller.result",
};
const CUSTOMER: Record<Step, [string, Picture]> = {
  idle: ["customer.idle", "welcome"],
  wait_card: ["customer.place_card", "card"],
  code_b_entry: ["customer.wait", "wait"],
  pin_entry: ["customer.type_pin", "keypad"],
  reading: ["customer.reading", "card"],
  card_back: ["customer.card_back", "card"],
  face: ["customer.look_at_camera", "camera"],
  camera_lost: ["customer.camera_lost", "wait"],
  sign_entry: ["customer.type_password", "keypad"],
  signing: ["customer.reading", "card"],
  review: ["customer.review", "wait"],
  recording: ["customer.review", "wait"],
  scan_qr: ["customer.show_phone_qr", "phone"],
  checking_qr: ["customer.checking_qr", "wait"],
  duplicate_check: ["customer.wait", "wait"],
  duplicate_review: ["customer.wait", "wait"],
  issuing: ["customer.wait", "wait"],
  show_qr: ["customer.save_qr", "phone"],
  requesting_code: ["customer.wait", "wait"],
  show_code: ["customer.scan_binding", "phone"],
  result: ["customer.done_ok", "done"],
};
const DONE: Record<Outcome, [string, Picture]> = {
  verified: ["customer.done_ok", "done"],
  not_verified: ["customer.done_not", "teller"],
  attack_suspected: ["customer.done_not", "teller"],
  refused: ["customer.done_municipality", "teller"],
  cancelled: ["customer.cancelled", "welcome"],
  issued: ["customer.done_issued", "done"],
  code_issued: ["customer.done_code_issued", "done"],
  code_not_issued: ["customer.done_code_not_issued", "teller"],
};

function actionsFor(step: Step): Actions {
  switch (step) {
    case "idle":
      return { ...NO_ACTIONS, start: true };
    case "result":
      return { ...NO_ACTIONS, start: true, next: true };
    case "review":
      return { ...NO_ACTIONS, cancel: true, confirm: true, override: true };
    case "code_b_entry":
      return { ...NO_ACTIONS, cancel: true, codeB: true };
    case "sign_entry":
      return { ...NO_ACTIONS, cancel: true, skipSign: true };
    case "recording":
      return NO_ACTIONS;
    default:
      return { ...NO_ACTIONS, cancel: true };
  }
}

function views(scene: Scene): { teller: TellerView; customer: CustomerView } {
  const s = seq++;
  const running = scene.step !== "idle" && scene.step !== "result";
  const outcome = scene.customer.outcome ?? null;
  const [cmsg, pic] = outcome ? DONE[outcome] : CUSTOMER[scene.step];
  const teller: TellerView = {
    seq: s,
    step: scene.step,
    procedure: running ? "identity_verification" : null,
    route: scene.route,
    remainingMs: scene.remainingMs,
    message: msg(TELLER_MSG[scene.step]),
    notice: null,
    actions: actionsFor(scene.step),
    triesLeft: null,
    chip: null,
    face: null,
    proposed: null,
    signature: null,
    result: null,
    issued: null,
    teller: { id: "T-0421", verified: false },
    ...scene.teller,
  };
  const customer: CustomerView = {
    seq: s,
    step: scene.step,
    remainingMs: scene.remainingMs,
    message: msg(cmsg),
    notice: null,
    picture: pic,
    keypad: null,
    camera: scene.step === "face",
    qrGuide: scene.step === "scan_qr",
    qr: null,
    outcome: null,
    ...scene.customer,
  };
  return { teller, customer };
}

// ---- The rest of the kiosk -----------------------------------------------------------------

const status: KioskStatus = {
  version: "0.1.0-mock",
  kioskId: "MOCK-KIOSK-01",
  branchCode: "042",
  language: LANG,
  simulate: true,
  singleScreen: false,
  devices: [
    { kind: "reader", mode: "simulated", state: "ok", detail: "reader.card_present", params: { name: "Virtual PCD 00 00" } },
    { kind: "camera", mode: "simulated", state: "ok", detail: "camera.sim_synthetic", params: { width: 640, height: 480, fps: 15 } },
    { kind: "backend", mode: "network", state: "ok", detail: "backend.reachable", params: { latencyMs: 4, backlog: 2 } },
  ],
  probedAt: Date.now(),
};

const today = new Date();
const at = (h: number, m: number) => new Date(today.getFullYear(), today.getMonth(), today.getDate(), h, m).getTime();
const history: History = {
  backlog: 2,
  rows: [
    { sessionId: "a1", procedure: "identity_verification", startedAtMs: at(9, 12), endedAtMs: at(9, 14), end: "completed", reason: "face.match", decision: "accepted", overridden: false },
    { sessionId: "a2", procedure: "identity_verification", startedAtMs: at(9, 40), endedAtMs: at(9, 41), end: "completed", reason: "card.pin.one_try_left", decision: "referred", overridden: false },
    { sessionId: "a3", procedure: "identity_verification", startedAtMs: at(10, 5), endedAtMs: at(10, 7), end: "completed", reason: "challenge.failed", decision: "rejected", overridden: false },
    { sessionId: "a4", procedure: "identity_verification", startedAtMs: at(10, 31), endedAtMs: at(10, 32), end: "cancelled", reason: "timeout.pin", decision: null, overridden: false },
    { sessionId: "a5", procedure: "identity_verification", startedAtMs: at(11, 2), endedAtMs: at(11, 5), end: "completed", reason: "teller.override", decision: "accepted", overridden: true },
  ],
};

const sim: SimState = {
  profiles: [
    { name: "standard", summary: "見本 花子, PIN 1234", variant: "standard" },
    { name: "one-try-left", summary: "PIN: 1 try left", variant: "one_try_left" },
    { name: "locked", summary: "PIN locked", variant: "locked" },
    { name: "clone", summary: "cloned chip", variant: "clone" },
  ],
  card: { inserted: true, profile: "standard" },
  faces: ["customer", "other-person", "child"],
  presenter: { face: "customer", kind: "customer" },
  camera: { plugged: true },
  phone: { credential: false },
};

export function installMock(side: Side): void {
  let current = views(SCENES[SCENE ?? "idle"]?.() ?? SCENES.idle!());
  let route: Route = "pin";
  let typed = 0;
  let frameNo = 0;
  // The window's own channel (procedure_subscribe), as the Rust side uses it.
  let channel: Channel<unknown> | null = null;
  const send = (kind: string, payload: object) => {
    channel?.onmessage(kind === "view" ? { kind, view: payload } : { kind, ...payload });
  };

  const show = (scene: Scene) => {
    current = views(scene);
    send("view", side === "teller" ? current.teller : current.customer);
  };
  const go = (name: string, after = 0) => {
    setTimeout(() => {
      const make = SCENES[name];
      if (make) show(make());
    }, after);
  };

  mockIPC(
    (cmd, args) => {
      const a = (args ?? {}) as Record<string, unknown>;
      switch (cmd) {
        case "kiosk_status":
          return status;
        case "procedure_view":
          return side === "teller" ? current.teller : current.customer;
        case "procedure_subscribe":
          channel = a.channel as Channel<unknown>;
          return null;
        case "history_today":
          return history;
        case "sim_state":
          return sim;
        case "sim_card":
          sim.card.inserted = Boolean(a.insert);
          if (typeof a.profile === "string") sim.card.profile = a.profile;
          if (side === "teller") send("sim-state", sim);
          if (sim.card.inserted && current.teller.step === "wait_card") go(route === "pin" ? "pin_entry" : "reading");
          return null;
        case "sim_presenter":
          sim.presenter = { face: String(a.face), kind: a.kind === "held_photo" ? "held_photo" : "customer" };
          if (side === "teller") send("sim-state", sim);
          return null;
        case "sim_camera":
          sim.camera.plugged = Boolean(a.plugged);
          if (side === "teller") send("sim-state", sim);
          return null;
        case "identity_start": {
          const req = a.request as { route: Route };
          route = req.route;
          typed = 0;
          go(sim.card.inserted ? (route === "pin" ? "pin_entry" : "reading") : "wait_card");
          if (route === "code_b") go("face", 2500);
          return null;
        }
        case "keypad_press": {
          const key = String(a.key);
          const s = SCENES.pin_entry!();
          if (key === "enter") {
            go("reading");
            go("face", 2500);
            go(sim.presenter.kind === "held_photo" ? "review_attack" : "review_ok", 7000);
            return null;
          }
          typed = key === "clear" ? 0 : key === "backspace" ? Math.max(0, typed - 1) : Math.min(4, typed + 1);
          s.customer.keypad = pinPad(typed, 3);
          show(s);
          return null;
        }
        case "procedure_confirm":
          go(current.teller.proposed?.outcome === "verified" ? "result_ok" : "result_attack");
          return null;
        case "procedure_override":
          show({
            ...SCENES.result_ok!(),
            teller: { result: resultView(a.accept ? "verified" : "not_verified", "teller.override", { overridden: true }) },
            customer: { outcome: a.accept ? "verified" : "not_verified" },
          });
          return null;
        case "procedure_cancel":
          show({ ...SCENES.result_cancelled!(), teller: { result: resultView("cancelled", "cancelled.teller") } });
          return null;
        case "procedure_next":
          go("idle");
          return null;
        case "procedure_skip_sign":
          go("review_ok");
          return null;
        case "procedure_code_b":
          go("reading");
          return null;
        default:
          throw { code: "request.invalid", message: `mock: unknown command ${cmd}` };
      }
    },
    { shouldMockEvents: true },
  );

  // The live parts of the steps: card read progress, face tracking, preview frames.
  setInterval(() => {
    const step = current.teller.step;
    if (step === "reading") {
      send("read-progress", { file: "kenhojo", fraction: SCENE ? 0.6 : Math.min(1, (frameNo++ % 25) / 24) });
    }
    if (step === "face") {
      frameNo++;
      const challenge = SCENE ? false : frameNo % 60 > 30;
      const progress: FaceProgress = {
        challenge,
        guidance: challenge ? "face.turn_left" : "face.hold_still",
        progress: SCENE ? 0.45 : (frameNo % 30) / 30,
        faces: 1,
        quality: 74,
        box: [0.44 - 0.135 + Math.sin(frameNo / 9) * 0.006, 0.45 - 0.26, 0.27, 0.5],
      };
      send("face-progress", progress);
      send("preview-frame", previewFrame(frameNo, challenge ? -0.6 : 0));
    }
  }, SCENE ? 300 : 100);
}
