//! Logging for every madoguchi binary: `tracing` events go to a daily-rotating JSON file in
//! the data directory (`<data_dir>/logs/madoguchi.YYYY-MM-DD.jsonl`, oldest deleted past the
//! configured count) and to stderr as text, both through the redaction layer in [`redact`].
//!
//! What it does not do: it does not decide what is personal data beyond the key list and
//! number shapes in [`redact`]; it does not ship logs anywhere; it keeps no log in memory.

pub mod redact;

use std::path::{Path, PathBuf};

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub use redact::{Format, REDACTED, RedactingMakeWriter, is_sensitive_key, redact_text};

/// Prefix of the log files.
pub const LOG_FILE_PREFIX: &str = "madoguchi";
/// Suffix of the log files.
pub const LOG_FILE_SUFFIX: &str = "jsonl";

/// How to log.
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// Directory of the JSON log files; `None` logs to stderr only.
    pub dir: Option<PathBuf>,
    /// Default level (`info`, …); `RUST_LOG` overrides it when set.
    pub level: String,
    /// Daily files kept.
    pub max_files: usize,
    /// Also log to stderr.
    pub stderr: bool,
}

/// Keeps the file writer running; logs are flushed when it is dropped.
#[derive(Debug)]
pub struct LogGuard {
    _file: Option<WorkerGuard>,
}

/// Errors setting up logging.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// The log directory could not be created or opened.
    #[error("cannot use the log directory {dir}: {source}")]
    Dir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A subscriber was already installed.
    #[error("logging is already initialised")]
    AlreadyInit,
}

/// Installs the global subscriber. Call once, early, and keep the guard.
pub fn init(opts: &LogOptions) -> Result<LogGuard, LogError> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{},tao=warn,wry=warn", opts.level)));
    let (file_layer, guard) = match &opts.dir {
        Some(dir) => {
            let appender = file_appender(dir, opts.max_files)?;
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let layer = tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(false)
                .with_current_span(true)
                .with_writer(RedactingMakeWriter::new(writer, Format::Json));
            (Some(layer), Some(guard))
        }
        None => (None, None),
    };
    let stderr_layer = opts.stderr.then(|| {
        tracing_subscriber::fmt::layer()
            .with_target(false)
            .with_writer(RedactingMakeWriter::new(std::io::stderr, Format::Text))
    });
    tracing_subscriber::registry()
        .with(filter)
        .with(file_layer)
        .with(stderr_layer)
        .try_init()
        .map_err(|_| LogError::AlreadyInit)?;
    Ok(LogGuard { _file: guard })
}

/// The rotating appender for `dir` (created with mode 0700 when missing).
pub fn file_appender(dir: &Path, max_files: usize) -> Result<RollingFileAppender, LogError> {
    let err = |source| LogError::Dir {
        dir: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(err)?;
    }
    RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix(LOG_FILE_PREFIX)
        .filename_suffix(LOG_FILE_SUFFIX)
        .max_log_files(max_files.max(1))
        .build(dir)
        .map_err(|e| err(std::io::Error::other(e)))
}
