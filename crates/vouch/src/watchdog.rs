//! The deadline guard: when a run outlives its deadline, vouch itself prints a deny that names
//! the step that ran out of time, before containerd's timeout kills it without a reason.
//!
//! The guard has two stages, because most pulls are answered from the verdict cache in about a
//! millisecond and a guard thread would be a tenth of that:
//! - **Local work** (reading stdin, the configuration, the trust material and the verdict
//!   cache) is guarded by a kernel timer. Its SIGALRM handler writes a report rendered in
//!   advance and ends the process; rendering happens on the main thread whenever what the
//!   report would say changes, so the handler only copies bytes (`write`, `_exit`: both
//!   async-signal-safe).
//! - **Waiting** (the first registry request, a lock held by another vouch) makes the pipeline
//!   call [`vouch_pipeline::Progress::waiting_begins`]; the guard then cancels the timer and
//!   starts a thread that renders the deny at the deadline with the step the run is in.
//!
//! A deny from the timer stage is not written to the audit log: the handler may not allocate
//! or take locks. The thread stage's deny is.

use crate::output::{self, plain_report, EXIT_DENY};
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vouch_pipeline::{Mode, Progress};

/// How long after the deadline the guard fires: the run's own requests end at the deadline,
/// and their more precise deny should win.
const GRACE: Duration = Duration::from_millis(300);

/// What the guard needs to write its deny.
#[derive(Debug, Clone)]
pub struct WatchState {
    /// When the run must end.
    pub deadline: Instant,
    /// The configured budget, for the message.
    pub budget: Duration,
    /// Enforce or audit.
    pub mode: Mode,
    /// The image, as far as known.
    pub subject: String,
    /// `[on_error]`: whether a passed deadline allows the pull.
    pub on_error: crate::on_error::OnError,
}

impl WatchState {
    /// The report and exit code for a deadline that passed during `step`.
    fn deny(&self, step: &str) -> (vouch_core::Report, u8) {
        let step = if step.is_empty() { "starting" } else { step };
        let reason = format!("deny {}: deadline of {:?} exceeded while {step}", self.subject, self.budget);
        let report = plain_report(false, self.mode.name(), &self.subject, reason, Some("deadline"));
        crate::on_error::verdict(report, self.mode, &self.on_error)
    }
}

/// A report rendered for the timer's handler: the bytes to write and the exit code.
struct Rendered {
    bytes: Vec<u8>,
    code: i32,
}

/// The report the timer's handler writes; null until the first render.
static ALARM_REPORT: AtomicPtr<Rendered> = AtomicPtr::new(std::ptr::null_mut());

/// Set by whoever prints the process's report first (the run, or the handler).
static PRINTING: AtomicBool = AtomicBool::new(false);

/// Claims the right to print the process's one report; false when the timer's handler has.
/// Called by [`output::finish`] before it writes.
pub fn claim_stdout() -> bool {
    !PRINTING.swap(true, Ordering::SeqCst)
}

/// True once a report is being printed (by the run or by the timer's handler).
pub fn stdout_claimed() -> bool {
    PRINTING.load(Ordering::SeqCst)
}

/// The deadline guard of one containerd run.
pub struct Guard {
    state: Arc<Mutex<WatchState>>,
    progress: Progress,
    /// True while the timer guards the run; false once the thread does.
    timer_stage: AtomicBool,
}

impl Guard {
    /// Starts the timer stage for `state`, and makes `progress` hand over to the thread stage
    /// when the run begins to wait.
    pub fn arm(state: Arc<Mutex<WatchState>>, progress: &Progress) -> Arc<Guard> {
        let guard = Arc::new(Guard { state, progress: progress.clone(), timer_stage: AtomicBool::new(true) });
        if install_handler() {
            guard.update();
        } else {
            guard.timer_stage.store(false, Ordering::SeqCst);
            // Without the timer the thread guards everything, from the start.
            log::warn!("cannot install the SIGALRM deadline handler; guarding the run with a thread");
            guard.clone().start_thread();
            return guard;
        }
        let for_hook = guard.clone();
        progress.before_waiting(move || for_hook.escalate());
        guard
    }

    /// Renders the report the timer would write now, and sets the timer to the deadline.
    /// Call after the state changes (the configuration sets the real deadline and mode).
    pub fn update(&self) {
        if !self.timer_stage.load(Ordering::SeqCst) {
            return; // the thread reads the state itself
        }
        let s = lock(&self.state);
        let (report, code) = s.deny(&self.progress.get());
        let (json, code) = output::render(&report, code);
        let mut bytes = json.into_bytes();
        bytes.push(b'\n');
        let rendered = Box::into_raw(Box::new(Rendered { bytes, code: i32::from(code) }));
        // The previous rendering is left allocated: the handler may be about to read it.
        ALARM_REPORT.swap(rendered, Ordering::SeqCst);
        set_timer(s.deadline.saturating_duration_since(Instant::now()) + GRACE);
    }

    /// Cancels the timer and guards the rest of the run with a thread.
    fn escalate(self: Arc<Self>) {
        if !self.timer_stage.swap(false, Ordering::SeqCst) {
            return;
        }
        set_timer(Duration::ZERO);
        self.start_thread();
    }

    fn start_thread(self: Arc<Self>) {
        let watch = move || loop {
            let s = lock(&self.state);
            let now = Instant::now();
            if now < s.deadline + GRACE {
                // Short naps: the configured timeout may still replace the default.
                std::thread::sleep((s.deadline + GRACE - now).min(Duration::from_millis(50)));
                continue;
            }
            let (report, code) = s.deny(&self.progress.get());
            log::error!("{}", report.reason);
            output::finish(&report, code);
        };
        if let Err(e) = std::thread::Builder::new().name("watchdog".into()).spawn(watch) {
            log::warn!("cannot start the deadline watchdog ({e}); containerd's own timeout still applies");
        }
    }
}

fn lock(state: &Mutex<WatchState>) -> WatchState {
    state.lock().map(|s| s.clone()).unwrap_or_else(|p| p.into_inner().clone())
}

/// SIGALRM: print the rendered report unless the run is already printing its own, and end.
extern "C" fn on_alarm(_signal: libc::c_int) {
    if PRINTING.swap(true, Ordering::SeqCst) {
        return;
    }
    let rendered = ALARM_REPORT.load(Ordering::SeqCst);
    // SAFETY: the pointer is null or came from Box::into_raw and is never freed.
    let Some(r) = (unsafe { rendered.as_ref() }) else {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(i32::from(EXIT_DENY)) }
    };
    let mut rest = r.bytes.as_slice();
    while !rest.is_empty() {
        // SAFETY: write(2) on a valid buffer; async-signal-safe.
        let n = unsafe { libc::write(1, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            break;
        }
        rest = &rest[n as usize..];
    }
    // SAFETY: as above.
    unsafe { libc::_exit(r.code) }
}

fn install_handler() -> bool {
    // SAFETY: a zeroed sigaction is valid; the handler only touches atomics and calls
    // async-signal-safe functions.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_alarm as extern "C" fn(libc::c_int) as usize;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGALRM, &action, std::ptr::null_mut()) == 0
    }
}

/// Arms the process's real-time timer to fire once after `after` (at least 1 µs); zero cancels it.
fn set_timer(after: Duration) {
    let value = libc::timeval {
        tv_sec: after.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_usec: libc::suseconds_t::from(after.subsec_micros()),
    };
    let timer = libc::itimerval { it_interval: libc::timeval { tv_sec: 0, tv_usec: 0 }, it_value: value };
    // SAFETY: plain system call with a valid struct.
    unsafe { libc::setitimer(libc::ITIMER_REAL, &timer, std::ptr::null_mut()) };
}
