// The screens. One bundle, three layouts chosen by the URL hash the Rust side opens:
// #teller (teller console), #customer (customer display), #both (side by side).
// Each screen has its own language switch: the customer picks theirs, the teller theirs.
// Text is always set through textContent, never as HTML.

import { invoke } from "@tauri-apps/api/core";
import { listen } from "@tauri-apps/api/event";
import { formatClock, other, t, type Lang } from "./i18n";
import { allDevicesOk, describeDevice, describeError, type KioskStatus } from "./status";

type ScreenKind = "teller" | "customer";

interface Screen {
  kind: ScreenKind;
  root: HTMLElement;
  lang: Lang;
}

let status: KioskStatus | null = null;
let error: unknown = null;
const screens: Screen[] = [];

function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) el.append(typeof c === "string" ? document.createTextNode(c) : c);
  return el;
}

function langButton(screen: Screen): HTMLButtonElement {
  const b = h(
    "button",
    {
      class: "lang",
      type: "button",
      "data-testid": "lang-switch",
      "aria-label": t(screen.lang, "lang.switch.label"),
      lang: other(screen.lang),
    },
    t(screen.lang, "lang.switch"),
  );
  b.addEventListener("click", () => {
    screen.lang = other(screen.lang);
    render(screen);
  });
  return b;
}

function clock(lang: Lang): HTMLElement {
  return h("time", { class: "clock", "data-testid": "clock", "data-lang": lang }, formatClock(lang, new Date()));
}

function meta(lang: Lang, s: KioskStatus): HTMLElement {
  return h(
    "dl",
    { class: "meta" },
    h("dt", {}, t(lang, "meta.kiosk")),
    h("dd", { "data-testid": "kiosk-id" }, s.kioskId),
    h("dt", {}, t(lang, "meta.branch")),
    h("dd", { "data-testid": "branch" }, s.branchCode),
  );
}

function deviceList(lang: Lang, s: KioskStatus, compact: boolean): HTMLElement {
  const list = h("ul", { class: compact ? "devices compact" : "devices", "data-testid": "devices" });
  for (const d of s.devices) {
    const v = describeDevice(lang, d);
    list.append(
      h(
        "li",
        { class: `device ${v.state}`, "data-kind": v.kind, "data-state": v.state },
        h("span", { class: "symbol", "aria-hidden": "true" }, v.symbol),
        h("span", { class: "name" }, v.name),
        h("span", { class: "badge" }, v.stateText),
        ...(compact
          ? []
          : [h("span", { class: "mode" }, v.mode), h("span", { class: "detail" }, v.detail)]),
      ),
    );
  }
  if (s.devices.length === 0) {
    list.append(h("li", { class: "device checking" }, t(lang, "state.checking")));
  }
  return list;
}

function tellerView(screen: Screen): HTMLElement[] {
  const lang = screen.lang;
  const header = h(
    "header",
    { class: "bar" },
    h("h1", { "data-testid": "title" }, t(lang, "teller.title")),
    ...(status?.simulate ? [h("span", { class: "sim", "data-testid": "sim-badge" }, t(lang, "mode.simulation"))] : []),
    clock(lang),
    langButton(screen),
  );
  if (error !== null) {
    return [header, h("main", {}, h("section", { class: "state error" }, h("h2", {}, t(lang, "teller.error")), h("p", {}, describeError(lang, error))))];
  }
  if (status === null) {
    return [header, h("main", {}, h("section", { class: "state" }, h("h2", {}, t(lang, "teller.loading"))))];
  }
  const degraded = !allDevicesOk(status);
  return [
    header,
    h(
      "main",
      {},
      h(
        "section",
        { class: degraded ? "state ready degraded" : "state ready", "data-testid": "ready" },
        h("h2", {}, t(lang, "teller.ready")),
        h("p", {}, t(lang, "teller.ready.detail")),
        ...(degraded ? [h("p", { class: "warning", role: "status" }, "⚠ " + t(lang, "teller.ready.degraded"))] : []),
        meta(lang, status),
      ),
      h("section", { class: "panel" }, h("h3", {}, t(lang, "teller.devices")), deviceList(lang, status, false)),
    ),
    h("footer", {}, `${t(lang, "meta.version")} ${status.version}`),
  ];
}

function customerView(screen: Screen): HTMLElement[] {
  const lang = screen.lang;
  const top = h("header", { class: "bar customer-bar" }, h("span", { class: "brand" }, t(lang, "app.name")), clock(lang), langButton(screen));
  if (status === null || error !== null) {
    return [top, h("main", {}, h("p", { class: "welcome" }, t(lang, "customer.welcome")))];
  }
  return [
    top,
    h(
      "main",
      { "data-testid": "ready" },
      h("p", { class: "welcome", "data-testid": "title" }, t(lang, "customer.welcome")),
      h("p", { class: "guide" }, t(lang, "customer.guide")),
    ),
    h("footer", { class: "customer-foot" }, meta(lang, status), deviceList(lang, status, true)),
  ];
}

function render(screen: Screen): void {
  const view = screen.kind === "teller" ? tellerView(screen) : customerView(screen);
  screen.root.replaceChildren(...view);
  screen.root.setAttribute("lang", screen.lang);
  screen.root.dataset.lang = screen.lang;
  screen.root.dataset.state = error !== null ? "error" : status === null ? "loading" : "ready";
  document.body.dataset.state = screens.every((s) => s.root.dataset.state === "ready")
    ? "ready"
    : (screen.root.dataset.state ?? "loading");
}

function renderAll(): void {
  screens.forEach(render);
}

function tickClocks(): void {
  for (const el of document.querySelectorAll<HTMLTimeElement>("time.clock")) {
    el.textContent = formatClock((el.dataset.lang as Lang) ?? "ja", new Date());
  }
}

function mount(): void {
  const which = window.location.hash.replace("#", "") || "teller";
  const kinds: ScreenKind[] = which === "both" ? ["teller", "customer"] : which === "customer" ? ["customer"] : ["teller"];
  const app = document.getElementById("app");
  if (!app) return;
  app.className = which === "both" ? "split" : "single";
  for (const kind of kinds) {
    const root = h("div", { class: `screen ${kind}`, "data-screen": kind, "data-testid": `screen-${kind}` });
    app.append(root);
    screens.push({ kind, root, lang: "ja" });
  }
  document.body.dataset.layout = which;
  renderAll();
}

function apply(s: KioskStatus, first: boolean): void {
  if (first) for (const sc of screens) sc.lang = s.language;
  status = s;
  error = null;
  renderAll();
}

async function start(): Promise<void> {
  mount();
  setInterval(tickClocks, 1000);
  await listen<KioskStatus>("device-status", (e) => apply(e.payload, status === null));
  // The first probe may finish before or after this window listens: ask until it has.
  for (;;) {
    try {
      const s = await invoke<KioskStatus>("kiosk_status");
      if (status === null || s.devices.length > 0) apply(s, status === null);
      if (s.devices.length > 0) break;
    } catch (e) {
      error = e;
      renderAll();
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

void start();
