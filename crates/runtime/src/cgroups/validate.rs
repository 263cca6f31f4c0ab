//! Checks on `linux.resources` values shared by both managers.
//!
//! The kernel rejects most bad values with a bare `EINVAL`, which the write
//! helper already reports with file and value. These checks catch the values
//! the kernel would silently clamp or that are plainly out of range, so the
//! error names the spec field instead.

use oci_spec::runtime::LinuxCpu;

use super::CgroupError;

fn invalid(field: &'static str, value: impl ToString, reason: &str) -> CgroupError {
    CgroupError::Invalid {
        field,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// Quota and period as the kernel accepts them: period 1ms..1s, quota -1 or
/// at least 1ms. 0 means "not set" in both, as in runc.
pub(super) fn cpu(cpu: &LinuxCpu) -> Result<(), CgroupError> {
    if let Some(p) = cpu.period().filter(|&p| p != 0) {
        if !(1000..=1_000_000).contains(&p) {
            return Err(invalid(
                "linux.resources.cpu.period",
                p,
                "must be between 1000 and 1000000 microseconds",
            ));
        }
    }
    if let Some(q) = cpu.quota().filter(|&q| q != 0) {
        if q < -1 || (0..1000).contains(&q) {
            return Err(invalid(
                "linux.resources.cpu.quota",
                q,
                "must be -1 (unlimited) or at least 1000 microseconds",
            ));
        }
    }
    Ok(())
}

/// A memory value: -1 (unlimited) or a byte count.
pub(super) fn memory(field: &'static str, value: Option<i64>) -> Result<(), CgroupError> {
    match value {
        Some(v) if v < -1 => Err(invalid(field, v, "must be -1 (unlimited) or a byte count")),
        _ => Ok(()),
    }
}

pub(super) fn swappiness(value: Option<u64>) -> Result<(), CgroupError> {
    match value {
        Some(v) if v > 100 => Err(invalid(
            "linux.resources.memory.swappiness",
            v,
            "must be between 0 and 100",
        )),
        _ => Ok(()),
    }
}

/// blkio weights (v1 and the bfq scheduler) range 10..=1000.
pub(super) fn blkio_weight(field: &'static str, value: u16) -> Result<(), CgroupError> {
    if (10..=1000).contains(&value) {
        Ok(())
    } else {
        Err(invalid(field, value, "must be between 10 and 1000"))
    }
}
