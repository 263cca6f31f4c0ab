//! From the spec's `LinuxSeccomp` to libseccomp's types ([`plan`]), and from those to a
//! BPF program ([`compile`]).
//!
//! The mapping follows runc's, so a profile means the same under both:
//! `SCMP_ACT_KILL` is kill-thread; ERRNO and TRACE without `errnoRet` return EPERM; a
//! rule whose action equals the default action is dropped (libseccomp refuses it);
//! several conditions on the same argument index are alternatives (one rule per
//! condition, as Docker's profile relies on for `personality`), while conditions on
//! distinct indexes must all hold (one rule).

use std::io::{Read, Seek};

use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext};
use libseccomp::{ScmpFilterAttr, ScmpSyscall};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator,
};

use super::SeccompError;

/// The actions berth-runc implements, as `features` lists them.
pub const ACTIONS: &[&str] = &[
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_LOG",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_TRAP",
];

pub const OPERATORS: &[&str] = &[
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_LE",
    "SCMP_CMP_LT",
    "SCMP_CMP_MASKED_EQ",
    "SCMP_CMP_NE",
];

/// Every architecture name the spec defines; `features` keeps those libseccomp knows.
pub const ARCHS: &[&str] = &[
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
];

pub const FLAGS: &[&str] = &[
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_TSYNC",
];

/// A syscall has six arguments (seccomp_data.args).
const MAX_ARGS: usize = 6;

/// `linux.seccomp`, resolved: everything checked, nothing compiled yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub default_action: ScmpAction,
    pub archs: Vec<ScmpArch>,
    pub rules: Vec<Rule>,
    /// `SECCOMP_FILTER_FLAG_*` bits for seccomp(2).
    pub flags: u32,
}

/// One entry of `linux.seccomp.syscalls`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The JSON path, for messages (`linux.seccomp.syscalls[3]`).
    pub field: String,
    pub names: Vec<String>,
    pub action: ScmpAction,
    /// Each inner list is one libseccomp rule (all must hold); the lists are alternatives.
    pub conditions: Vec<Vec<ScmpArgCompare>>,
}

impl Plan {
    /// The number of (name, condition set) rules, for messages and measurements.
    pub fn rule_count(&self) -> usize {
        self.rules
            .iter()
            .map(|r| r.names.len() * r.conditions.len().max(1))
            .sum()
    }
}

/// Checks and converts `linux.seccomp`.
pub fn plan(s: &LinuxSeccomp) -> Result<Plan, SeccompError> {
    if s.listener_path().is_some() {
        return Err(SeccompError::Unsupported(
            "linux.seccomp.listenerPath: seccomp notify (SCMP_ACT_NOTIFY, a seccomp agent)".into(),
        ));
    }
    let default_action = action(
        s.default_action(),
        s.default_errno_ret(),
        "linux.seccomp.defaultAction",
        "linux.seccomp.defaultErrnoRet",
    )?;
    let archs = s
        .architectures()
        .iter()
        .flatten()
        .map(|a| arch(*a))
        .collect();
    let mut flags = 0;
    for (i, f) in s.flags().iter().flatten().enumerate() {
        flags |= flag_bits(&f.to_string()).ok_or_else(|| {
            SeccompError::Unsupported(format!(
                "linux.seccomp.flags[{i}]: {f} (it only applies to seccomp notify)"
            ))
        })?;
    }
    let mut rules = Vec::new();
    for (i, sc) in s.syscalls().iter().flatten().enumerate() {
        let field = format!("linux.seccomp.syscalls[{i}]");
        if sc.names().is_empty() {
            return Err(SeccompError::invalid(
                format!("{field}.names"),
                "must name at least one syscall",
            ));
        }
        let action = action(
            sc.action(),
            sc.errno_ret(),
            &format!("{field}.action"),
            &format!("{field}.errnoRet"),
        )?;
        let conditions = conditions(sc.args().as_deref().unwrap_or_default(), &field)?;
        rules.push(Rule {
            field,
            names: sc.names().clone(),
            action,
            conditions,
        });
    }
    Ok(Plan {
        default_action,
        archs,
        rules,
        flags,
    })
}

fn action(
    a: LinuxSeccompAction,
    errno_ret: Option<u32>,
    field: &str,
    errno_field: &str,
) -> Result<ScmpAction, SeccompError> {
    use LinuxSeccompAction as A;
    let ret = || -> Result<u16, SeccompError> {
        let v = errno_ret.unwrap_or(libc::EPERM as u32);
        u16::try_from(v)
            .map_err(|_| SeccompError::invalid(errno_field, format!("{v} does not fit in 16 bits")))
    };
    Ok(match a {
        A::ScmpActKill | A::ScmpActKillThread => ScmpAction::KillThread,
        A::ScmpActKillProcess => ScmpAction::KillProcess,
        A::ScmpActTrap => ScmpAction::Trap,
        A::ScmpActErrno => ScmpAction::Errno(i32::from(ret()?)),
        A::ScmpActTrace => ScmpAction::Trace(ret()?),
        A::ScmpActLog => ScmpAction::Log,
        A::ScmpActAllow => ScmpAction::Allow,
        A::ScmpActNotify => {
            return Err(SeccompError::Unsupported(format!(
                "{field}: SCMP_ACT_NOTIFY (seccomp notify, a seccomp agent)"
            )))
        }
    })
}

pub fn arch(a: Arch) -> ScmpArch {
    match a {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

pub fn flag_bits(name: &str) -> Option<u32> {
    let flag: LinuxSeccompFilterFlag = name.parse().ok()?;
    Some(match flag {
        LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
        LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
        LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => return None,
    } as u32)
}

fn operator(op: LinuxSeccompOperator, value: u64) -> ScmpCompareOp {
    use LinuxSeccompOperator as O;
    match op {
        O::ScmpCmpNe => ScmpCompareOp::NotEqual,
        O::ScmpCmpLt => ScmpCompareOp::Less,
        O::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        O::ScmpCmpEq => ScmpCompareOp::Equal,
        O::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        O::ScmpCmpGt => ScmpCompareOp::Greater,
        // OCI: `value` is the mask, `valueTwo` the value compared after masking.
        O::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(value),
    }
}

fn conditions(
    args: &[LinuxSeccompArg],
    field: &str,
) -> Result<Vec<Vec<ScmpArgCompare>>, SeccompError> {
    let mut per_index = [0usize; MAX_ARGS];
    let mut conds = Vec::new();
    for (k, a) in args.iter().enumerate() {
        if a.index() >= MAX_ARGS {
            return Err(SeccompError::invalid(
                format!("{field}.args[{k}].index"),
                format!(
                    "{} is out of range: a syscall has {MAX_ARGS} arguments (0-5)",
                    a.index()
                ),
            ));
        }
        per_index[a.index()] += 1;
        let (op, datum) = match a.op() {
            LinuxSeccompOperator::ScmpCmpMaskedEq => {
                (operator(a.op(), a.value()), a.value_two().unwrap_or(0))
            }
            other => (operator(other, a.value()), a.value()),
        };
        conds.push(ScmpArgCompare::new(a.index() as u32, op, datum));
    }
    if conds.is_empty() {
        return Ok(Vec::new());
    }
    if per_index.iter().any(|&n| n > 1) {
        Ok(conds.into_iter().map(|c| vec![c]).collect())
    } else {
        Ok(vec![conds])
    }
}

fn lib(field: impl Into<String>) -> impl FnOnce(libseccomp::error::SeccompError) -> SeccompError {
    let field = field.into();
    move |source| SeccompError::Libseccomp { field, source }
}

/// Builds the filter with libseccomp and exports it as BPF bytes.
pub fn compile(plan: &Plan) -> Result<Vec<u8>, SeccompError> {
    let mut ctx =
        ScmpFilterContext::new(plan.default_action).map_err(lib("linux.seccomp.defaultAction"))?;
    // berth-runc installs the program itself; the spec alone decides no_new_privs.
    ctx.set_filter_attr(ScmpFilterAttr::CtlNnp, 0)
        .map_err(lib("linux.seccomp"))?;
    // A binary tree of syscall numbers instead of libseccomp's default linear list:
    // each syscall then walks O(log n) instructions, and so does the kernel when it
    // loads the filter and precomputes its allow-cache for every syscall number
    // (Docker's profile: seccomp() took ~1.5 ms with the list).
    ctx.set_ctl_optimize(2).map_err(lib("linux.seccomp"))?;
    for (i, a) in plan.archs.iter().enumerate() {
        ctx.add_arch(*a)
            .map_err(lib(format!("linux.seccomp.architectures[{i}]")))?;
    }
    for rule in &plan.rules {
        if rule.action == plan.default_action {
            crate::logging::debug(&format!(
                "seccomp: {}: same action as the default, ignored",
                rule.field
            ));
            continue;
        }
        for (j, name) in rule.names.iter().enumerate() {
            let Ok(syscall) = ScmpSyscall::from_name(name) else {
                crate::logging::debug(&format!(
                    "seccomp: {}.names[{j}]: unknown syscall {name:?}, skipped",
                    rule.field
                ));
                continue;
            };
            let field = || format!("{}.names[{j}] ({name})", rule.field);
            if rule.conditions.is_empty() {
                ctx.add_rule(rule.action, syscall).map_err(lib(field()))?;
            }
            for conds in &rule.conditions {
                ctx.add_rule_conditional(rule.action, syscall, conds)
                    .map_err(lib(field()))?;
            }
        }
    }
    let memfd = rustix::fs::memfd_create("berth-seccomp", rustix::fs::MemfdFlags::CLOEXEC)
        .map_err(|e| SeccompError::Io {
            context: "cannot create a memfd for the seccomp program".into(),
            source: e.into(),
        })?;
    ctx.export_bpf(&memfd).map_err(lib("linux.seccomp"))?;
    let mut file = std::fs::File::from(memfd);
    let mut bytes = Vec::new();
    file.rewind()
        .and_then(|_| file.read_to_end(&mut bytes))
        .map_err(SeccompError::io("cannot read the exported seccomp program"))?;
    Ok(bytes)
}

/// Whether this libseccomp can build a filter for the named architecture.
pub fn arch_known_to_libseccomp(name: &str) -> bool {
    let Ok(a) = serde_json::from_value::<Arch>(serde_json::Value::String(name.into())) else {
        return false;
    };
    ScmpFilterContext::new(ScmpAction::Allow)
        .and_then(|mut ctx| ctx.add_arch(arch(a)).map(|_| ()))
        .is_ok()
}
