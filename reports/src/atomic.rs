//! Output files appear whole or not at all: written beside their final name, then renamed.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};

/// A file being written under a temporary name in the directory of `path`; [`commit`]
/// renames it to `path`. Dropped without a commit (an error on the way), it is removed.
///
/// [`commit`]: AtomicFile::commit
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    file: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Starts writing `path` (its directory must exist).
    pub fn create(path: impl AsRef<Path>) -> Result<AtomicFile> {
        let path = path.as_ref().to_path_buf();
        let name = path
            .file_name()
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Write,
                    format!("{}: not a file name", path.display()),
                )
            })?
            .to_string_lossy()
            .into_owned();
        let tmp = path.with_file_name(format!(".{name}.hue-tmp-{}", std::process::id()));
        let file = File::create(&tmp).map_err(|e| write_error(&path, e))?;
        Ok(AtomicFile {
            path,
            tmp,
            file: Some(BufWriter::new(file)),
        })
    }

    /// Flushes the file to disk and gives it its name.
    pub fn commit(mut self) -> Result<()> {
        let file = self.file.take().expect("not yet committed");
        let file = file
            .into_inner()
            .map_err(|e| write_error(&self.path, e.into_error()))?;
        file.sync_all().map_err(|e| write_error(&self.path, e))?;
        std::fs::rename(&self.tmp, &self.path).map_err(|e| write_error(&self.path, e))?;
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.as_mut().expect("not yet committed").write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().expect("not yet committed").flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes every `(path, bytes)` beside its name first and renames them only once all were
/// written, so an error leaves none of them behind (an older file of the same name stays).
pub fn write_all(files: &[(PathBuf, Vec<u8>)]) -> Result<()> {
    let mut pending = Vec::with_capacity(files.len());
    for (path, bytes) in files {
        let mut f = AtomicFile::create(path)?;
        f.write_all(bytes).map_err(|e| write_error(path, e))?;
        pending.push(f);
    }
    for f in pending {
        f.commit()?;
    }
    Ok(())
}

/// Creates `dir` (and its parents) if it does not exist.
pub fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::with_source(
            ErrorKind::Write,
            format!("{}: cannot create the output directory: {e}", dir.display()),
            e,
        )
    })
}

pub(crate) fn write_error(path: &Path, e: io::Error) -> Error {
    Error::with_source(
        ErrorKind::Write,
        format!("{}: cannot write: {e}", path.display()),
        e,
    )
}
