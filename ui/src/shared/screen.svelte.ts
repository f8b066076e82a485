// One screen's state (teller console or customer display), as Svelte 5 runes: what Rust last
// said (status, view, progress, preview, simulator) and the screen's own language. The feed
// (connect.ts) applies items; the components only read. Large payloads are `$state.raw`: they
// are replaced whole, never mutated, and not proxied.

import type { CustomerDesk, DeskView, FaceProgress, PreviewFrame, ReadProgress, SimState, Step } from "../lib/api";
import { isNewer, type FeedItem } from "../lib/feed";
import { other, type Lang } from "../lib/i18n";
import type { KioskStatus } from "../lib/status";

export type LoadState = "loading" | "ready" | "error";

export class ScreenState<V extends { seq: number; step: Step }> {
  status = $state.raw<KioskStatus | null>(null);
  error = $state.raw<unknown>(null);
  lang = $state<Lang>("ja");
  view = $state.raw<V | null>(null);
  /** performance.now() when the view arrived (its remainingMs counts from then). */
  viewAt = $state(0);
  readProgress = $state.raw<ReadProgress | null>(null);
  faceProgress = $state.raw<FaceProgress | null>(null);
  preview = $state.raw<PreviewFrame | null>(null);
  sim = $state.raw<SimState | null>(null);
  /** Who is signed in (teller console: DeskView; customer display: only whether it is open). */
  desk = $state.raw<DeskView | CustomerDesk | null>(null);
  /** Wall clock (the header clock) and monotonic clock (remaining time), ticking. */
  now = $state(Date.now());
  mono = $state(0);

  /** The language was chosen on this screen (the kiosk default no longer applies). */
  #chosen = false;
  /** Go back to the kiosk's language when the screen returns to idle (customer display). */
  readonly #resetLangOnIdle: boolean;

  constructor(resetLangOnIdle: boolean) {
    this.#resetLangOnIdle = resetLangOnIdle;
  }

  get loadState(): LoadState {
    return this.error !== null ? "error" : this.status === null ? "loading" : "ready";
  }

  get step(): Step {
    return this.view?.step ?? "idle";
  }

  toggleLang(): void {
    this.lang = other(this.lang);
    this.#chosen = true;
  }

  tick(): void {
    this.now = Date.now();
    this.mono = performance.now();
  }

  apply(item: FeedItem<V>): void {
    switch (item.kind) {
      case "view":
        this.#applyView(item.view);
        break;
      case "read-progress":
        this.readProgress = item.progress;
        break;
      case "face-progress":
        this.faceProgress = item.progress;
        break;
      case "preview-frame":
        if (this.preview === null || item.frame.seq >= this.preview.seq) {
          this.preview = item.frame;
        }
        break;
      case "device-status":
        this.applyStatus(item.status);
        break;
      case "sim-state":
        this.sim = item.sim;
        break;
      case "desk":
        this.desk = item.desk;
        break;
    }
  }

  applyStatus(s: KioskStatus): void {
    if (this.status === null && !this.#chosen) this.lang = s.language;
    this.status = s;
    this.error = null;
  }

  #applyView(v: V): void {
    if (!isNewer(this.view, v)) return;
    const before = this.view?.step ?? "idle";
    this.view = v;
    this.viewAt = performance.now();
    this.mono = this.viewAt;
    if (v.step !== before) {
      // Progress belongs to its step: a new read or face check starts from nothing.
      if (v.step !== "reading" && v.step !== "card_back") this.readProgress = null;
      if (v.step !== "face") {
        this.faceProgress = null;
        this.preview = null;
      }
      if (v.step === "idle" && this.#resetLangOnIdle && this.status !== null) {
        // The next customer starts in the kiosk's language.
        this.lang = this.status.language;
        this.#chosen = false;
      }
    }
  }
}
