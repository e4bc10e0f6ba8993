//! The machine a run was measured on: kernel, CPU model, cores. Read from /proc; anything
//! unreadable is reported as "unknown" rather than failing the run.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub hostname: String,
    pub kernel: String,
    pub cpu_model: String,
    /// Logical CPUs online.
    pub cores: usize,
    pub memory_bytes: u64,
    /// 1-minute load average when the run started: how busy the machine already was.
    #[serde(default)]
    pub load_average_1m: f64,
}

impl Machine {
    pub fn describe() -> Machine {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let cpu_model = cpuinfo
            .lines()
            .find(|line| line.starts_with("model name"))
            .and_then(|line| line.split_once(':'))
            .map(|(_, model)| model.trim().to_owned())
            .unwrap_or_else(|| "unknown".to_owned());
        let memory_bytes = read("/proc/meminfo")
            .lines()
            .find(|line| line.starts_with("MemTotal:"))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|kib| kib.parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024);
        let unknown_if_empty = |text: String| {
            let text = text.trim().to_owned();
            if text.is_empty() {
                "unknown".to_owned()
            } else {
                text
            }
        };
        Machine {
            hostname: unknown_if_empty(read("/proc/sys/kernel/hostname")),
            kernel: unknown_if_empty(read("/proc/sys/kernel/osrelease")),
            cpu_model,
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            memory_bytes,
            load_average_1m: read("/proc/loadavg")
                .split_whitespace()
                .next()
                .and_then(|load| load.parse().ok())
                .unwrap_or(0.0),
        }
    }
}

/// CPU cores this process may run on (its affinity mask).
pub fn available_cores() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity writes at most its size.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let result =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if result != 0 {
        let count = std::thread::available_parallelism().map_or(1, usize::from);
        return (0..count).collect();
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: the index is below CPU_SETSIZE.
        .filter(|core| unsafe { libc::CPU_ISSET(*core, &set) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machine_is_described() {
        let machine = Machine::describe();
        assert!(machine.cores >= 1);
        assert!(!machine.kernel.is_empty());
        assert!(!available_cores().is_empty());
    }
}
