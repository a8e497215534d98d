//! Files that hold secrets (generated JWT key, demo logins) or residents' personal data (the
//! database, photos, mail) are written readable by the owner only.

use std::io::Write;
use std::path::Path;

use crate::error::{CoreError, CoreResult};

pub fn write_private(path: &Path, contents: &[u8]) -> CoreResult<()> {
    if let Some(dir) = path.parent() {
        create_private_dir(dir).map_err(|e| {
            CoreError::internal_because(format!("cannot create {}", dir.display()), e)
        })?;
    }
    let mut file = create_private_file(path)
        .map_err(|e| CoreError::internal_because(format!("cannot write {}", path.display()), e))?;
    file.write_all(contents)
        .and_then(|_| file.sync_all())
        .map_err(|e| CoreError::internal_because(format!("cannot write {}", path.display()), e))
}

/// Creates a folder (and its parents) readable by the owner only (0700): the data folder,
/// photos and mail hold residents' personal data. An existing folder is left as it is.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Makes sure a file exists and is readable by the owner only (0600), creating it empty
/// if missing. SQLite gives its `-wal` and `-shm` files the mode of the database file.
pub fn ensure_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    drop(file);
    Ok(())
}

/// Creates (or truncates) a file readable by the owner only (0600).
pub fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}
