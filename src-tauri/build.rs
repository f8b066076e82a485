//! Build script: Tauri's code generation, with the app's own commands declared so that each
//! needs an explicit permission in `capabilities/` (least privilege).

fn main() {
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(
        tauri_build::AppManifest::new().commands(&[
            "kiosk_status",
            "procedure_subscribe",
            "procedure_view",
            "identity_start",
            "procedure_code_b",
            "procedure_confirm",
            "procedure_confirm_enroll",
            "procedure_confirm_rebind",
            "qr_auth_start",
            "procedure_override",
            "procedure_cancel",
            "procedure_next",
            "procedure_skip_sign",
            "keypad_press",
            "history_today",
            "sim_state",
            "sim_card",
            "sim_presenter",
            "sim_camera",
            "sim_phone_clear",
            "sim_phone_show",
            "desk_state",
            "desk_sign_in",
            "desk_sign_out",
            "desk_touch",
            "desk_tellers",
            "desk_register_key",
            "sim_key_plug",
        ]),
    ))
    .expect("tauri-build failed");
}
