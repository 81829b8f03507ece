//! Child processes that cannot outlive the test process ([`Watched`]): each
//! runs under a small `sh` watchdog whose standard input is a pipe held by the
//! test process. When the test process closes the pipe (`Watched`'s `Drop`)
//! or dies in any way (the kernel closes its descriptors), the watchdog reads
//! end-of-file and stops the child. A static is never dropped, which is why
//! the pipe, not `Drop`, is the guarantee.

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crate::unique_name;

/// Runs a command in the background and stops it when standard input reaches
/// end-of-file: `$1` is the log file (standard error, and standard output
/// unless `$2` is `keep-stdout`), the rest is the command line. TERM first,
/// KILL after five seconds, then the log is removed.
const WATCHDOG: &str = r#"log=$1; stdout=$2; shift 2
if [ "$stdout" = keep-stdout ]; then
  "$@" </dev/null 2>"$log" &
else
  "$@" </dev/null >"$log" 2>&1 &
fi
pid=$!
exec >/dev/null
cat >/dev/null
kill -TERM "$pid" 2>/dev/null
i=0
while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i+1)); done
kill -KILL "$pid" 2>/dev/null
wait "$pid"
rm -f "$log"
"#;

/// A child process that cannot outlive the test process: it runs under an
/// `sh` watchdog whose standard input is a pipe only this process holds.
/// Dropping it (or this process dying) closes the pipe, and the watchdog
/// stops the child. Its standard error (and standard output, unless taken
/// with [`Watched::take_stdout`]) goes to a log file removed at the end.
#[derive(Debug)]
pub struct Watched {
    watchdog: Child,
    pipe: Option<ChildStdin>,
    log: PathBuf,
    /// The child's file name, to find it among the watchdog's children.
    program: String,
}

impl Watched {
    /// Spawns `program args` with extra environment `envs`. With
    /// `keep_stdout`, the child's standard output is a pipe to this process.
    pub fn spawn<I, S>(
        program: &Path,
        args: I,
        envs: &[(&str, &str)],
        keep_stdout: bool,
    ) -> std::io::Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let log = std::env::temp_dir().join(format!(
            "{}.log",
            unique_name(&format!("orders-tests-{}", std::process::id()))
        ));
        let mut command = Command::new("/bin/sh");
        command
            .arg("-c")
            .arg(WATCHDOG)
            .arg("orders-tests-watchdog")
            .arg(&log)
            .arg(if keep_stdout {
                "keep-stdout"
            } else {
                "log-stdout"
            })
            .arg(program)
            .args(args)
            .envs(envs.iter().copied())
            .stdin(Stdio::piped())
            .stdout(if keep_stdout {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::null());
        // Its own process group, so a stuck child can be killed with everything
        // it started, and a terminal's Ctrl-C reaches the test, not the child.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut watchdog = command.spawn()?;
        let pipe = watchdog.stdin.take();
        Ok(Self {
            watchdog,
            pipe,
            log,
            program: program
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        })
    }

    /// Kills the child with SIGKILL, as a crash or `kill -9` would (no
    /// signal handler runs, nothing is drained), and waits until it is gone.
    /// The watchdog stays until [`Watched::stop`] or drop, so the log stays
    /// readable. The child is found as the watchdog's child process (the
    /// watchdog's `sh` runs it directly, `"$@" &`) named like the program;
    /// `false` when there is none (it already exited).
    pub fn kill_child(&mut self) -> bool {
        let watchdog = self.watchdog.id();
        // /proc/<pid>/comm holds at most 15 bytes of the name.
        let comm: String = self.program.chars().take(15).collect();
        let Some(pid) = proc_children(watchdog)
            .into_iter()
            .find(|(_, name, _)| *name == comm)
            .map(|(pid, _, _)| pid)
        else {
            return false;
        };
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        // Gone, or a zombie until the watchdog reaps it: either way it holds
        // no port and runs no code.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match proc_stat(pid) {
                None | Some((_, _, 'Z')) => return true,
                Some(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        panic!("process {pid} survived SIGKILL for 10 s");
    }

    /// The child's standard output (once; `None` unless spawned with `keep_stdout`).
    pub fn take_stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.watchdog.stdout.take()
    }

    /// The log so far (standard error, and standard output unless kept).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the watchdog is still running (it exits only after the child).
    pub fn is_running(&mut self) -> bool {
        matches!(self.watchdog.try_wait(), Ok(None))
    }

    /// Stops the child and waits for it (idempotent).
    pub fn stop(&mut self) {
        // End-of-file on the pipe: the watchdog terminates the child.
        drop(self.pipe.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.watchdog.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // The watchdog itself is stuck: kill its whole process group.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.watchdog.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.watchdog.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// (parent pid, command name, state) of a process, from `/proc/<pid>/stat`.
fn proc_stat(pid: u32) -> Option<(u32, String, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid …"; the name may hold spaces and parentheses.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_owned();
    let mut rest = stat.get(close + 1..)?.split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((ppid, name, state))
}

/// (pid, command name, state) of the live children of `parent`.
fn proc_children(parent: u32) -> Vec<(u32, String, char)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let (ppid, name, state) = proc_stat(pid)?;
            (ppid == parent && state != 'Z').then_some((pid, name, state))
        })
        .collect()
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.stop();
    }
}
