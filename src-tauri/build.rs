//! Build script: Tauri's code generation, with the app's own commands declared so that each
//! needs an explicit permission in `capabilities/` (least privilege).

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(&["kiosk_status"])),
    )
    .expect("tauri-build failed");
}
