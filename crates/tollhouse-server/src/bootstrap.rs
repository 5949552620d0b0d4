//! Opening what every command needs: the data directory, the master key, the store.

use crate::config::Config;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::Path;
use tollhouse_core::Random;
use tollhouse_core::master_key::MasterKey;
use tollhouse_store::{SettingsRepository as _, SqlStore, StoreError};

/// Environment variable holding the master key (64 hex digits or base64 of 32 bytes).
pub const MASTER_KEY_ENV: &str = "TOLLHOUSE_MASTER_KEY";
const MASTER_KEY_CHECK: &str = "master_key.check";

/// Start-up failures, each with an actionable message.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// Filesystem trouble with the data directory or key file.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The master key is malformed.
    #[error("master key from {0} is invalid: expected 32 bytes as 64 hex digits or base64")]
    BadMasterKey(String),
    /// The master key differs from the one the database was set up with.
    #[error(
        "the master key does not match the one this database was initialised with; set {MASTER_KEY_ENV} or --master-key-file to the original key"
    )]
    WrongMasterKey,
    /// The database failed.
    #[error("database: {0}")]
    Store(#[from] StoreError),
}

/// Opens the store (running migrations) and the master key, and checks they belong together.
pub async fn open(
    config: &Config,
    rng: &dyn Random,
) -> Result<(SqlStore, MasterKey), BootstrapError> {
    let url = config.database.url();
    if url.starts_with("sqlite:") {
        create_private_dir(&config.database.data_dir)?;
        tighten(&config.database.data_dir, 0o700).map_err(|source| BootstrapError::Io {
            what: "data directory is readable by group or others and cannot be made private (chmod 700 it)",
            path: config.database.data_dir.display().to_string(),
            source,
        })?;
        if let Some(file) = sqlite_file(&url) {
            create_private_file(&file)?;
        }
    }
    let master = load_master_key(config, rng)?;
    let store = SqlStore::connect_with(&url, config.database.timeout()).await?;
    let check = master.check_value();
    if !store
        .insert_setting_if_absent(MASTER_KEY_CHECK, &check)
        .await?
    {
        let stored = store.setting(MASTER_KEY_CHECK).await?;
        if stored.as_deref() != Some(check.as_str()) {
            return Err(BootstrapError::WrongMasterKey);
        }
    }
    Ok((store, master))
}

/// Group and world permission bits: none of them may be set on what holds user data and keys.
const SHARED_BITS: u32 = 0o077;

/// Creates a missing directory 0700. An existing one is left as it is: only the data directory
/// (Tollhouse's own) is tightened, never a parent an operator named for a key or database file.
fn create_private_dir(path: &Path) -> Result<(), BootstrapError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|source| BootstrapError::Io {
            what: "cannot create directory",
            path: path.display().to_string(),
            source,
        })
}

/// Creates the SQLite database file 0600 before SQLite opens it (SQLite gives its `-wal` and
/// `-shm` files the database file's mode), or tightens an existing one.
fn create_private_file(path: &Path) -> Result<(), BootstrapError> {
    let io = |what: &'static str| {
        let path = path.display().to_string();
        move |source| BootstrapError::Io { what, path, source }
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dir(parent)?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            for suffix in ["", "-wal", "-shm"] {
                let mut name = path.as_os_str().to_owned();
                name.push(suffix);
                let file = Path::new(&name);
                if file.exists() {
                    tighten(file, 0o600).map_err(io(
                        "database file is readable by group or others and cannot be made private (chmod 600 it)",
                    ))?;
                }
            }
            Ok(())
        }
        Err(err) => Err(io("cannot create database file")(err)),
    }
}

/// Sets `mode` on `path` when group or others have any permission on it. The data directory
/// holds user emails, usage and the master key; one we cannot tighten (another owner's) is
/// refused rather than used.
fn tighten(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let current = std::fs::metadata(path)?.permissions().mode();
    if current & SHARED_BITS == 0 {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    tracing::warn!(
        path = %path.display(),
        was = format!("{:o}", current & 0o777),
        now = format!("{mode:o}"),
        "tightened permissions: group and others could read Tollhouse's data"
    );
    Ok(())
}

/// The file of a `sqlite://path?…` (or `sqlite:path`) URL; `None` for an in-memory database.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" || rest.contains("mode=memory") {
        return None;
    }
    Some(std::path::PathBuf::from(path))
}

fn load_master_key(config: &Config, rng: &dyn Random) -> Result<MasterKey, BootstrapError> {
    if let Ok(text) = std::env::var(MASTER_KEY_ENV) {
        return MasterKey::parse(&text)
            .map_err(|_| BootstrapError::BadMasterKey(MASTER_KEY_ENV.into()));
    }
    let path = config.master_key_file();
    let io = |what: &'static str| {
        let path = path.display().to_string();
        move |source| BootstrapError::Io { what, path, source }
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => MasterKey::parse(&text)
            .map_err(|_| BootstrapError::BadMasterKey(path.display().to_string())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                create_private_dir(parent)?;
            }
            let key = MasterKey::generate(rng);
            // create_new: never overwrite a key another process just wrote.
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(io("cannot create master key file"))?;
            file.write_all(format!("{}\n", key.to_hex()).as_bytes())
                .map_err(io("cannot write master key file"))?;
            file.sync_all().map_err(io("cannot sync master key file"))?;
            Ok(key)
        }
        Err(err) => Err(io("cannot read master key file")(err)),
    }
}
