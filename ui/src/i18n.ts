// Screen texts in Japanese and English. Every key exists in both languages (a test checks),
// and the Rust side sends codes, never sentences, so the screens translate everything.

export type Lang = "ja" | "en";
export const LANGS: readonly Lang[] = ["ja", "en"];

const ja = {
  "app.name": "窓口",
  "teller.title": "窓口端末",
  "teller.ready": "受付できます",
  "teller.ready.detail": "お客さまの手続きを開始できます。",
  "teller.ready.degraded": "一部の機器が使えません。下の一覧をご確認ください。",
  "teller.devices": "機器の状態",
  "teller.loading": "起動しています…",
  "teller.error": "状態を取得できません",
  "customer.welcome": "いらっしゃいませ",
  "customer.guide": "係員がご案内します。しばらくお待ちください。",
  "customer.devices": "機器",
  "meta.kiosk": "端末",
  "meta.branch": "店番",
  "meta.version": "バージョン",
  "mode.simulation": "シミュレーション",
  "mode.hardware": "実機",
  "mode.simulated": "シミュレータ",
  "mode.network": "ネットワーク",
  "lang.switch": "English",
  "lang.switch.label": "Switch to English",
  "device.reader": "カードリーダー",
  "device.camera": "カメラ",
  "device.backend": "センター接続",
  "state.ok": "正常",
  "state.missing": "未接続",
  "state.error": "異常",
  "state.checking": "確認中",
  "reader.service_down": "PC/SC サービス (pcscd) が動いていません",
  "reader.error": "リーダーの確認に失敗しました: {info}",
  "reader.none": "カードリーダーが接続されていません",
  "reader.not_matching": "設定のリーダー「{wanted}」が見つかりません",
  "reader.ready": "{name}",
  "reader.card_present": "{name}(カードあり)",
  "camera.sim_synthetic": "模擬のお客さま映像 {width}×{height}({fps} fps)",
  "camera.sim_recorded": "録画映像 {width}×{height}({fps} fps)",
  "camera.sim_missing": "シミュレータ用の画像 {file} が見つかりません",
  "camera.error": "カメラの確認に失敗しました: {info}",
  "camera.none": "カメラが接続されていません",
  "camera.not_matching": "設定のカメラ「{wanted}」が見つかりません",
  "camera.ready": "{name}",
  "backend.not_configured": "センターの URL が設定されていません",
  "backend.reachable": "接続中({latencyMs} ms、未送信 {backlog} 件)",
  "backend.unhealthy": "センターが異常を返しました(HTTP {status})",
  "backend.unreachable": "センターに接続できません: {info}(未送信 {backlog} 件)",
  "error.status.unavailable": "機器の状態を取得できません",
  "error.unknown": "予期しないエラー: {code}",
} as const;

export type Key = keyof typeof ja;

const en: Record<Key, string> = {
  "app.name": "madoguchi",
  "teller.title": "Teller console",
  "teller.ready": "Ready",
  "teller.ready.detail": "You can start a customer procedure.",
  "teller.ready.degraded": "Some devices are unavailable. See the list below.",
  "teller.devices": "Devices",
  "teller.loading": "Starting…",
  "teller.error": "Cannot read the kiosk status",
  "customer.welcome": "Welcome",
  "customer.guide": "A member of staff will assist you shortly.",
  "customer.devices": "Devices",
  "meta.kiosk": "Kiosk",
  "meta.branch": "Branch",
  "meta.version": "Version",
  "mode.simulation": "Simulation",
  "mode.hardware": "hardware",
  "mode.simulated": "simulator",
  "mode.network": "network",
  "lang.switch": "日本語",
  "lang.switch.label": "日本語に切り替え",
  "device.reader": "Card reader",
  "device.camera": "Camera",
  "device.backend": "Central link",
  "state.ok": "OK",
  "state.missing": "Missing",
  "state.error": "Fault",
  "state.checking": "Checking",
  "reader.service_down": "The PC/SC service (pcscd) is not running",
  "reader.error": "Reader check failed: {info}",
  "reader.none": "No card reader connected",
  "reader.not_matching": "Configured reader “{wanted}” not found",
  "reader.ready": "{name}",
  "reader.card_present": "{name} (card present)",
  "camera.sim_synthetic": "Synthetic customer {width}×{height} ({fps} fps)",
  "camera.sim_recorded": "Recorded clip {width}×{height} ({fps} fps)",
  "camera.sim_missing": "Simulator image {file} not found",
  "camera.error": "Camera check failed: {info}",
  "camera.none": "No camera connected",
  "camera.not_matching": "Configured camera “{wanted}” not found",
  "camera.ready": "{name}",
  "backend.not_configured": "No central backend URL configured",
  "backend.reachable": "Connected ({latencyMs} ms, {backlog} unsent)",
  "backend.unhealthy": "The backend reported a fault (HTTP {status})",
  "backend.unreachable": "Cannot reach the backend: {info} ({backlog} unsent)",
  "error.status.unavailable": "The device status is unavailable",
  "error.unknown": "Unexpected error: {code}",
};

const dictionaries: Record<Lang, Record<Key, string>> = { ja, en };

export function isKey(k: string): k is Key {
  return Object.prototype.hasOwnProperty.call(ja, k);
}

/** Translates `key`, filling `{name}` placeholders from `params`. */
export function t(lang: Lang, key: Key, params: Record<string, unknown> = {}): string {
  return dictionaries[lang][key].replace(/\{(\w+)\}/g, (_, name: string) =>
    name in params ? String(params[name]) : `{${name}}`,
  );
}

/** Keys present in one language and not the other (for the completeness test). */
export function missingKeys(): string[] {
  const jaKeys = Object.keys(ja);
  const enKeys = Object.keys(en);
  return [
    ...jaKeys.filter((k) => !enKeys.includes(k)),
    ...enKeys.filter((k) => !jaKeys.includes(k)),
  ];
}

export function other(lang: Lang): Lang {
  return lang === "ja" ? "en" : "ja";
}

export function parseLang(s: string | null | undefined, fallback: Lang): Lang {
  return s === "ja" || s === "en" ? s : fallback;
}

/** The clock line in the screen's language, in the machine's time zone. */
export function formatClock(lang: Lang, now: Date): string {
  const locale = lang === "ja" ? "ja-JP" : "en-GB";
  const date = new Intl.DateTimeFormat(locale, {
    year: "numeric",
    month: lang === "ja" ? "long" : "short",
    day: "numeric",
    weekday: "short",
  }).format(now);
  const time = new Intl.DateTimeFormat(locale, {
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hour12: false,
  }).format(now);
  return `${date} ${time}`;
}
