//! A throwaway PostgreSQL server for tests: `initdb` of a temporary cluster, started with
//! `pg_ctl` on a free loopback port, stopped and deleted on drop. Uses the Debian package
//! `postgresql` (binaries under `/usr/lib/postgresql/*/bin` or on `PATH`). When run as root
//! the cluster belongs to, and runs as, the `postgres` user (else `nobody`) through `runuser`,
//! since PostgreSQL refuses to run as root.
//!
//! What it does NOT do: touch any existing cluster or service, listen beyond 127.0.0.1, or
//! keep data (fsync off; the directory is deleted).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::CentralError;

/// A running temporary PostgreSQL server.
#[derive(Debug)]
pub struct TempPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    run_as: Option<String>,
    port: u16,
}

fn invalid(m: impl Into<String>) -> CentralError {
    CentralError::Invalid(m.into())
}

fn find_bin() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    dirs.sort();
    if let Some(d) = dirs.pop() {
        return Some(d);
    }
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p).find(|d| d.join("initdb").exists() && d.join("pg_ctl").exists())
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn user_exists(name: &str) -> bool {
    Command::new("id")
        .arg(name)
        .output()
        .is_ok_and(|o| o.status.success())
}

impl TempPostgres {
    /// Creates and starts the cluster. Fails with a message naming the `postgresql` package
    /// when its binaries are missing.
    pub fn start() -> Result<TempPostgres, CentralError> {
        let bin = find_bin().ok_or_else(|| {
            invalid("PostgreSQL server binaries (initdb, pg_ctl) not found: install the Debian package `postgresql`")
        })?;
        let dir = tempfile::Builder::new()
            .prefix("madoguchi-pg-")
            .tempdir()
            .map_err(|source| CentralError::Io {
                context: "temporary directory".into(),
                source,
            })?;
        let run_as = if is_root() {
            let user = if user_exists("postgres") {
                "postgres"
            } else {
                "nobody"
            };
            let st = Command::new("chown")
                .arg("-R")
                .arg(user)
                .arg(dir.path())
                .status()
                .map_err(|source| CentralError::Io {
                    context: "chown".into(),
                    source,
                })?;
            if !st.success() {
                return Err(invalid("chown of the cluster directory failed"));
            }
            Some(user.to_owned())
        } else {
            None
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|source| CentralError::Io {
                context: "finding a free port".into(),
                source,
            })?
            .port();
        let pg = TempPostgres {
            dir,
            bin,
            run_as,
            port,
        };
        let data = pg.data();
        pg.run(
            "initdb",
            &[
                "-D",
                path_str(&data)?,
                "-U",
                "madoguchi",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )?;
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            path_str(pg.dir.path())?
        );
        let log = pg.dir.path().join("server.log");
        pg.run(
            "pg_ctl",
            &[
                "-D",
                path_str(&data)?,
                "-o",
                &opts,
                "-l",
                path_str(&log)?,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )?;
        Ok(pg)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<(), CentralError> {
        let exe = self.bin.join(tool);
        let mut c = match &self.run_as {
            Some(u) => {
                let mut c = Command::new("runuser");
                c.arg("-u").arg(u).arg("--").arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let out = c
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .map_err(|source| CentralError::Io {
                context: format!("running {tool}"),
                source,
            })?;
        if out.status.success() {
            Ok(())
        } else {
            Err(invalid(format!(
                "{tool} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }

    /// `postgres://madoguchi@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://madoguchi@127.0.0.1:{}/postgres", self.port)
    }

    /// The server's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn path_str(p: &Path) -> Result<&str, CentralError> {
    p.to_str().ok_or_else(|| invalid("non-UTF-8 path"))
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        if let Ok(d) = path_str(&self.data()).map(str::to_owned) {
            let _ = self.run("pg_ctl", &["-D", &d, "-m", "immediate", "-w", "stop"]);
        }
    }
}
