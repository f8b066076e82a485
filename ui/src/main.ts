// The screens. One bundle; the URL hash the Rust side opens chooses the screen:
// #teller (teller console) or #customer (customer display). In --single-screen the Rust side
// opens one window with two webviews, one per hash, so each side keeps its own capability.
// Each screen has its own language: the customer picks theirs, the teller theirs.

import { mount } from "svelte";
import Customer from "./customer/Customer.svelte";
import type { CustomerView, TellerView } from "./lib/api";
import { connect } from "./shared/connect";
import { ScreenState } from "./shared/screen.svelte";
import Teller from "./teller/Teller.svelte";
import { lockPage } from "./lib/lock";
import "./style.css";

async function start(): Promise<void> {
  lockPage();
  const which = window.location.hash.replace("#", "") === "customer" ? "customer" : "teller";
  const app = document.getElementById("app");
  if (!app) return;
  document.body.dataset.layout = which;

  // Development only (vite dev, or the `mock` build for screenshots), never in the shipped
  // bundle: without Tauri, a mock plays views so the screens can be looked at in a browser.
  if ((import.meta.env.DEV || import.meta.env.MODE === "mock") && !("__TAURI_INTERNALS__" in window)) {
    const { installMock } = await import("./dev/mock");
    installMock(which);
  }

  const tick = (s: { tick(): void }) => {
    s.tick();
    setInterval(() => s.tick(), 250);
  };
  if (which === "customer") {
    const screen = new ScreenState<CustomerView>(true);
    mount(Customer, { target: app, props: { screen } });
    tick(screen);
    await connect("customer", screen);
  } else {
    const screen = new ScreenState<TellerView>(false);
    mount(Teller, { target: app, props: { screen } });
    tick(screen);
    await connect("teller", screen);
  }
}

void start();
