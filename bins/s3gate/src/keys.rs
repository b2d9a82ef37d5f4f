//! The master key ring of server-side encryption: read from `S3GATE_MASTER_KEYS`
//! (`id:base64[,id:base64...]`, the first active) or from the master key file (mode 0600;
//! created with one fresh key on first start), and `s3gate kms rotate`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use s3gate_crypto::{MasterKeyId, MasterKeys};

/// The master key file's name in the data directory when no `--master-key-file` is given.
pub(crate) const MASTER_KEY_FILE: &str = "master-keys";

/// Where the key file is.
pub(crate) fn key_file(data_dir: &Path, file: Option<&Path>) -> PathBuf {
    file.map_or_else(|| data_dir.join(MASTER_KEY_FILE), Path::to_path_buf)
}

/// A new master key id: `k` and the Unix time, which keeps ids of rotations apart and ordered.
fn new_id() -> anyhow::Result<MasterKeyId> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Ok(MasterKeyId::new(&format!("k{secs}"))?)
}

/// Reads the key file, refusing one that group or others may read.
fn read_file(path: &Path) -> anyhow::Result<MasterKeys> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        bail!("{} may be read by others: chmod 600 it", path.display());
    }
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
    );
    MasterKeys::parse_file(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Writes `keys` to a fresh temp file `tmp` (mode 0600) and syncs it.
fn write_temp(tmp: &Path, keys: &MasterKeys) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let _ = std::fs::remove_file(tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(keys.to_file_text().as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// Writes the key file atomically (temp file 0600, fsync, rename, fsync of the directory).
fn write_file(path: &Path, keys: &MasterKeys) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    write_temp(&tmp, keys)?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir).and_then(|d| d.sync_all()).ok();
    }
    Ok(())
}

/// The master keys of `serve`: the environment's, else the key file's, else a new key file
/// with one fresh key.
pub(crate) fn load(data_dir: &Path, file: Option<&Path>) -> anyhow::Result<MasterKeys> {
    if let Some(keys) = from_env() {
        return keys;
    }
    let path = key_file(data_dir, file);
    if path.exists() {
        return read_file(&path);
    }
    let keys = MasterKeys::generate(new_id()?)?;
    if create_file(&path, &keys)? {
        tracing::info!(file = %path.display(), "created a master key file for server-side encryption");
        Ok(keys)
    } else {
        // Another gateway on the same data directory created it first: use its keys, or the
        // two would encrypt under keys the other cannot read.
        read_file(&path)
    }
}

/// How a running gateway reads its ring again (after another process's `s3gate kms rotate`):
/// the environment's list or the key file, as at start-up, but never creating a file.
pub(crate) fn reloader(data_dir: &Path, file: Option<&Path>) -> s3gate_engine::KeyReload {
    let path = key_file(data_dir, file);
    std::sync::Arc::new(move || {
        from_env().unwrap_or_else(|| read_file(&path)).map_err(|e| format!("{e:#}"))
    })
}

/// The ring `S3GATE_MASTER_KEYS` gives, if it is set and not empty.
fn from_env() -> Option<anyhow::Result<MasterKeys>> {
    let list = std::env::var("S3GATE_MASTER_KEYS").ok().filter(|l| !l.is_empty())?;
    let list = zeroize::Zeroizing::new(list);
    Some(MasterKeys::parse_list(&list).context("S3GATE_MASTER_KEYS"))
}

/// Creates the key file only if it does not exist, atomically even against other gateways
/// starting on the same data directory: the keys go to a temp file of this process (0600,
/// fsync), which is hard-linked into place (`link` fails if the name exists). `false` when
/// another process won.
fn create_file(path: &Path, keys: &MasterKeys) -> anyhow::Result<bool> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    write_temp(&tmp, keys)?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            if let Some(dir) = path.parent() {
                std::fs::File::open(dir).and_then(|d| d.sync_all()).ok();
            }
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e).with_context(|| format!("writing {}", path.display())),
    }
}

/// `s3gate kms rotate`: adds a new active master key to the key file and keeps the old ones
/// for reading. Returns the new key's id.
pub(crate) fn rotate(data_dir: &Path, file: Option<&Path>) -> anyhow::Result<String> {
    let path = key_file(data_dir, file);
    let mut keys = read_file(&path)?;
    let id = new_id()?;
    if keys.contains(&id) {
        bail!("a master key {id} exists already; rotate again in a second");
    }
    keys.rotate(id.clone())?;
    write_file(&path, &keys)?;
    Ok(id.as_str().to_owned())
}

/// `s3gate kms retire ID`: removes an inactive master key from the key file (the caller has
/// checked that no stored record still needs it).
pub(crate) fn retire(data_dir: &Path, file: Option<&Path>, id: &str) -> anyhow::Result<()> {
    let path = key_file(data_dir, file);
    let mut keys = read_file(&path)?;
    let id = MasterKeyId::new(id)?;
    if keys.active_id() == &id {
        bail!("{id} is the active master key: rotate first");
    }
    keys.retire(&id)?;
    write_file(&path, &keys)
}

/// The master key ring the file holds now, for `kms retire`'s scan.
pub(crate) fn read_ring(data_dir: &Path, file: Option<&Path>) -> anyhow::Result<MasterKeys> {
    read_file(&key_file(data_dir, file))
}

/// When the key file last changed (`None` when it cannot be read, or the ring comes from the
/// environment): the gateway reloads its ring when this moves.
pub(crate) fn stamp(data_dir: &Path, file: Option<&Path>) -> Option<std::time::SystemTime> {
    if std::env::var("S3GATE_MASTER_KEYS").is_ok_and(|l| !l.is_empty()) {
        return None;
    }
    std::fs::metadata(key_file(data_dir, file)).and_then(|m| m.modified()).ok()
}
