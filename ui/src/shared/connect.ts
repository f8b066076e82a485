// Connects a screen to the Rust side: subscribes to the window's own IPC channel
// (`procedure_subscribe`: views, read and face progress, preview frames, the simulator panel —
// the teller's side never reaches the customer's page), listens to the one app-wide event,
// `device-status` (no personal data), asks for the current view once (the window may open
// after the first one), and polls `kiosk_status` until the devices have been probed.

import { Channel, invoke } from "@tauri-apps/api/core";
import { listen } from "@tauri-apps/api/event";
import { api } from "../lib/api";
import { fromChannel, fromEvent, type Side, type ViewOf } from "../lib/feed";
import type { KioskStatus } from "../lib/status";
import type { ScreenState } from "./screen.svelte";

export async function connect<S extends Side>(side: S, screen: ScreenState<ViewOf<S>>): Promise<void> {
  try {
    await listen<unknown>("device-status", (e) => {
      const item = fromEvent(side, "device-status", e.payload);
      if (item) screen.apply(item);
    });
    const channel = new Channel<unknown>();
    channel.onmessage = (m) => {
      const item = fromChannel(side, m);
      if (item) screen.apply(item);
    };
    await invoke("procedure_subscribe", { channel });
  } catch (e) {
    screen.error = e;
  }
  void currentView(side, screen);
  if (side === "teller") {
    api.simState().then(
      (sim) => screen.apply({ kind: "sim-state", sim }),
      () => {
        // Not in simulation: no simulator panel.
      },
    );
  }
  for (;;) {
    try {
      const s = await invoke<KioskStatus>("kiosk_status");
      if (screen.status === null || s.devices.length > 0) screen.applyStatus(s);
      if (s.devices.length > 0) break;
    } catch (e) {
      screen.error = e;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function currentView<S extends Side>(side: S, screen: ScreenState<ViewOf<S>>): Promise<void> {
  try {
    const v = await api.procedureView();
    if (v !== null && v !== undefined) {
      const item = fromEvent(side, `${side}-view`, v);
      if (item) screen.apply(item);
    }
  } catch {
    // The view comes with the next step's event.
  }
}
