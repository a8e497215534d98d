//! Files that hold secrets (generated JWT key, demo logins) are written readable by the owner only.

use std::io::Write;
use std::path::Path;

use crate::error::{CoreError, CoreResult};

pub fn write_private(path: &Path, contents: &[u8]) -> CoreResult<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| CoreError::Internal(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| CoreError::Internal(format!("cannot write {}: {e}", path.display())))?;
    file.write_all(contents)
        .and_then(|_| file.sync_all())
        .map_err(|e| CoreError::Internal(format!("cannot write {}: {e}", path.display())))
}
