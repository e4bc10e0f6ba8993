//! Whole-file helpers: small files read at once, atomic replacement, index files, removal.

use super::*;

/// Reads a whole small file, or `None` if it does not exist.
pub(super) async fn read_small_file<F: FileSystem>(
    file_system: &F,
    path: &Path,
) -> Result<Option<Vec<u8>>, StorageError> {
    let file = match file_system.open_file(path, false).await {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(StorageError::io("open", path, error)),
    };
    let size = file.size().await.map_err(io_error("stat", path))?;
    if size > 64 << 20 {
        return Err(StorageError::Corrupt {
            path: path.to_path_buf(),
            detail: format!("{size} bytes is too large for an index or checkpoint"),
        });
    }
    let bytes = file
        .read_at(0, size as usize)
        .await
        .map_err(io_error("read", path))?;
    Ok(Some(bytes.to_vec()))
}

/// Replaces `path` atomically: temporary file, write, fdatasync, rename, directory fsync.
pub(super) async fn write_file_atomically<F: FileSystem>(
    file_system: &F,
    directory: &Path,
    path: &Path,
    bytes: &[u8],
) -> Result<(), StorageError> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(TEMPORARY_SUFFIX);
    let temporary = PathBuf::from(temporary);
    let file = file_system
        .open_file(&temporary, true)
        .await
        .map_err(io_error("create", &temporary))?;
    file.truncate(0)
        .await
        .map_err(io_error("truncate", &temporary))?;
    if !bytes.is_empty() {
        let padded = page_align_up(bytes.len() as u64) as usize;
        let mut buffer = file.alloc_write_buffer(padded);
        buffer.as_mut()[..bytes.len()].copy_from_slice(bytes);
        buffer.as_mut()[bytes.len()..padded].fill(0);
        file.write_at(buffer, padded, 0)
            .await
            .map_err(io_error("write", &temporary))?;
        file.truncate(bytes.len() as u64)
            .await
            .map_err(io_error("truncate", &temporary))?;
    }
    file.fdatasync()
        .await
        .map_err(io_error("fdatasync", &temporary))?;
    drop(file);
    file_system
        .rename(&temporary, path)
        .await
        .map_err(io_error("rename", &temporary))?;
    file_system
        .sync_dir(directory)
        .await
        .map_err(io_error("sync directory", directory))
}

/// Loads and checks a segment's index files. `segment_end` (the segment's next offset) is
/// checked against the time index when known.
pub(super) async fn load_indexes<F: FileSystem>(
    file_system: &F,
    directory: &Path,
    base: Offset,
    data_size_bytes: u64,
    segment_end: Option<Offset>,
) -> Result<SegmentIndexes, String> {
    let offset_path = directory.join(segment_file_name(base, OFFSET_INDEX_SUFFIX));
    let time_path = directory.join(segment_file_name(base, TIME_INDEX_SUFFIX));
    let offset_bytes = read_small_file(file_system, &offset_path)
        .await
        .map_err(|error| error.to_string())?
        .ok_or("offset index missing")?;
    let time_bytes = read_small_file(file_system, &time_path)
        .await
        .map_err(|error| error.to_string())?
        .ok_or("time index missing")?;
    let offset = OffsetIndex::decode(&offset_bytes, data_size_bytes.max(1))
        .map_err(|error| format!("offset index: {error}"))?;
    if data_size_bytes > 0 && offset.len() == 0 {
        return Err("offset index empty for a non-empty segment".to_string());
    }
    let time = TimeIndex::decode(&time_bytes, base, segment_end.unwrap_or(Offset(i64::MAX)))
        .map_err(|error| format!("time index: {error}"))?;
    Ok(SegmentIndexes { offset, time })
}

pub(super) async fn remove_segment_files<F: FileSystem>(
    file_system: &F,
    directory: &Path,
    base: Offset,
) -> Result<(), StorageError> {
    for suffix in [TIME_INDEX_SUFFIX, OFFSET_INDEX_SUFFIX, DATA_SUFFIX] {
        let path = directory.join(segment_file_name(base, suffix));
        match file_system.remove_file(&path).await {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(StorageError::io("remove", path, error)),
        }
    }
    file_system
        .sync_dir(directory)
        .await
        .map_err(io_error("sync directory", directory))
}
