//! Where the app finds its data files (models, thresholds, simulator assets): the
//! `MADOGUCHI_ASSETS_DIR` override, the repository's `assets/` above a development build
//! (`target/<profile>/madoguchi` → `assets/`), `./assets`, then the installed
//! `/usr/share/madoguchi/`.
//!
//! What it does not do: fetch anything, or check the files (their loaders verify them).

use std::path::PathBuf;

/// The first existing `rel` under the asset roots, in the order above.
pub fn find(rel: &str) -> Option<PathBuf> {
    roots()
        .into_iter()
        .map(|r| r.join(rel))
        .find(|p| p.exists())
}

fn roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    if let Some(dir) = std::env::var_os("MADOGUCHI_ASSETS_DIR") {
        roots.push(PathBuf::from(dir));
    }
    if let Ok(exe) = std::env::current_exe() {
        // target/debug/madoguchi (or target/debug/deps/… for tests) → <repo>/assets
        for dir in exe.ancestors().skip(2).take(3) {
            roots.push(dir.join("assets"));
        }
    }
    roots.push(PathBuf::from("assets"));
    roots.push(PathBuf::from("/usr/share/madoguchi"));
    roots
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_simulated_customer_from_a_development_build() {
        let p = super::find("sim/customer.jpg").expect("assets/sim/customer.jpg");
        assert!(p.ends_with("assets/sim/customer.jpg"), "{}", p.display());
        assert!(super::find("no/such/file").is_none());
    }
}
