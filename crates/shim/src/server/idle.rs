//! Giving back code pages when the shim goes idle.
//!
//! A shim spends nearly all its life waiting, yet the code it ran while starting the
//! container and serving requests stays mapped, and RSS counts it: about 1 MiB of
//! its 1.2 MiB. Those pages are the executable's, in the page cache and shared by
//! every shim, so unmapping them costs nothing but a few page faults on the next
//! request. A background thread does it once the shim has had no request for
//! [`QUIET`] (see [`super::sys::drop_code_pages`]). The kernel maps file pages
//! around each fault (64 KiB), so the trim only helps if nothing runs after it:
//! hence the wait for quiet, and the thread itself goes straight back to sleep.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// How long without a request before the shim trims.
const QUIET: Duration = Duration::from_millis(300);

/// Counts activity; the trimmer thread waits for it to stop.
pub struct Idle {
    activity: Mutex<u64>,
    changed: Condvar,
}

impl Idle {
    /// Starts the trimmer thread; it trims a first time once startup is quiet.
    pub fn start() -> std::io::Result<Arc<Idle>> {
        let idle = Arc::new(Idle {
            activity: Mutex::new(1),
            changed: Condvar::new(),
        });
        let me = idle.clone();
        std::thread::Builder::new()
            .name("trim".into())
            .stack_size(64 * 1024)
            .spawn(move || me.run())?;
        Ok(idle)
    }

    /// Records activity: the next trim waits for [`QUIET`] after it.
    pub fn touch(&self) {
        let mut n = self.activity.lock().unwrap_or_else(|e| e.into_inner());
        *n += 1;
        self.changed.notify_all();
    }

    fn run(&self) {
        let mut trimmed_at = 0;
        let mut n = self.activity.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            while *n == trimmed_at {
                n = self.changed.wait(n).unwrap_or_else(|e| e.into_inner());
            }
            // Wait until a whole quiet period passes without activity.
            loop {
                let seen = *n;
                n = self
                    .changed
                    .wait_timeout(n, QUIET)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
                if *n == seen {
                    break;
                }
            }
            trimmed_at = *n;
            drop(n);
            super::sys::drop_code_pages();
            n = self.activity.lock().unwrap_or_else(|e| e.into_inner());
        }
    }
}
