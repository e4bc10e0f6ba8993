//! The machine's own limits, measured beside the broker so that reports can show results as a
//! fraction of what the hardware (and the bench itself) can do.
//!
//! `scripts/bench-limits` writes a limits file: the disk's O_DIRECT sequential write bandwidth
//! and fdatasync latency (fio), the loopback TCP bandwidth ([`measure_loopback`], the
//! `ferrite-bench loopback` subcommand) and the bench's own ceiling against its discarding
//! sink. Every part is optional: a report shows the ones that were measured.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// Largest loopback measurement.
pub const LOOPBACK_SECONDS_MAX: f64 = 60.0;
/// Bytes per write in the loopback measurement.
const LOOPBACK_WRITE_BYTES: usize = 1 << 20;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    pub measured_at_unix_seconds: u64,
    pub disk: Option<DiskLimits>,
    pub loopback: Option<LoopbackLimits>,
    pub sink: Option<SinkLimits>,
}

/// fio's figures for the disk the broker writes to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiskLimits {
    pub directory: String,
    /// O_DIRECT sequential writes through io_uring.
    pub sequential_write_megabytes_per_second: f64,
    pub sequential_write_block_bytes: u64,
    /// One O_DIRECT write + fdatasync at a time.
    pub fdatasync_block_bytes: u64,
    pub fdatasync_per_second: f64,
    pub fdatasync_p50_us: f64,
    pub fdatasync_p99_us: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoopbackLimits {
    pub megabytes_per_second: f64,
    pub seconds: f64,
    pub sender_core: Option<usize>,
    pub receiver_core: Option<usize>,
}

/// The bench's own ceiling: unthrottled produce against `ferrite-bench sink`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SinkLimits {
    pub messages_per_second: f64,
    pub megabytes_per_second: f64,
    pub message_bytes: u64,
}

impl Limits {
    pub fn read(path: &Path) -> Result<Limits> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read limits file {}", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("limits file {} is not valid", path.display()))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("limits serialize")
    }
}

/// Pins the calling thread to `core`.
fn pin_to(core: usize) -> Result<()> {
    // SAFETY: cpu_set_t is plain data; CPU_SET indexes below CPU_SETSIZE (checked).
    unsafe {
        if core >= libc::CPU_SETSIZE as usize {
            anyhow::bail!("core {core} is out of range");
        }
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("cannot pin to core {core}"));
        }
    }
    Ok(())
}

/// Streams 1 MiB writes over a loopback TCP connection for `seconds` and reports the bandwidth
/// the receiver saw. Sender and receiver are plain threads, pinned when cores are given.
pub fn measure_loopback(
    seconds: f64,
    sender_core: Option<usize>,
    receiver_core: Option<usize>,
) -> Result<LoopbackLimits> {
    if !(seconds > 0.0 && seconds <= LOOPBACK_SECONDS_MAX) {
        anyhow::bail!("loopback seconds must be in (0, {LOOPBACK_SECONDS_MAX}]");
    }
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot listen on loopback")?;
    let address = listener.local_addr()?;
    let receiver = std::thread::spawn(move || -> Result<(u64, Duration)> {
        if let Some(core) = receiver_core {
            pin_to(core)?;
        }
        let (mut stream, _) = listener.accept()?;
        let mut buffer = vec![0u8; LOOPBACK_WRITE_BYTES];
        let mut total = 0u64;
        let mut first: Option<Instant> = None;
        loop {
            let read = stream.read(&mut buffer)?;
            if read == 0 {
                break;
            }
            first.get_or_insert_with(Instant::now);
            total += read as u64;
        }
        Ok((total, first.map_or(Duration::ZERO, |f| f.elapsed())))
    });
    if let Some(core) = sender_core {
        pin_to(core)?;
    }
    let mut stream = TcpStream::connect(address).context("cannot connect over loopback")?;
    let buffer = vec![0x5au8; LOOPBACK_WRITE_BYTES];
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    while Instant::now() < deadline {
        stream.write_all(&buffer)?;
    }
    drop(stream);
    let (bytes, elapsed) = receiver
        .join()
        .map_err(|_| anyhow::anyhow!("the loopback receiver panicked"))??;
    let elapsed_seconds = elapsed.as_secs_f64().max(1e-9);
    Ok(LoopbackLimits {
        megabytes_per_second: bytes as f64 / 1e6 / elapsed_seconds,
        seconds: elapsed_seconds,
        sender_core,
        receiver_core,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_moves_bytes_and_limits_round_trip() {
        let loopback = measure_loopback(0.2, None, None).unwrap();
        assert!(loopback.megabytes_per_second > 1.0, "{loopback:?}");
        let limits = Limits {
            measured_at_unix_seconds: 1,
            disk: Some(DiskLimits {
                sequential_write_megabytes_per_second: 2000.0,
                fdatasync_p99_us: 900.0,
                ..Default::default()
            }),
            loopback: Some(loopback),
            sink: None,
        };
        let back: Limits = serde_json::from_str(&limits.to_json()).unwrap();
        assert_eq!(back, limits);
        assert!(measure_loopback(0.0, None, None).is_err());
    }
}
