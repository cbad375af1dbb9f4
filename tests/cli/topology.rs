//! Child supervision with real processes (`/bin/sh` stands in for a role).

use std::time::Duration;

use ninefold::topology::child::{ChildError, ChildSpec, RunningChild};
use nix::sys::signal::Signal;

fn spec(name: &str, script: &str) -> ChildSpec {
    let dir = std::env::temp_dir().join(format!("ninefold-topology-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    ChildSpec {
        name: name.into(),
        program: Some("/bin/sh".into()),
        args: vec!["-c".into(), script.into()],
        log: dir.join(format!("{name}.log")),
        ready_timeout: Duration::from_secs(20),
        ready: Default::default(),
        env: Vec::new(),
        cwd: None,
    }
}

const READY: &str =
    r#"echo '{"event":"ready","role":"backend","instance":"x","addr":"127.0.0.1:1"}'"#;

fn state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next())
}

#[tokio::test]
async fn ready_line_then_kill_is_observed() {
    let s = spec(
        "k",
        &format!("echo starting; {READY}; echo after; exec sleep 30"),
    );
    let child = RunningChild::spawn(&s).await.unwrap();
    assert_eq!(child.ready.role, "backend");
    assert!(child.exit().is_none());
    child.signal(Signal::SIGKILL).unwrap();
    let exit = child.wait(Duration::from_secs(10)).await.expect("exits");
    assert_eq!(exit.status, "killed by SIGKILL");
    assert!(!exit.success);
    let log = std::fs::read_to_string(&s.log).unwrap();
    assert!(
        log.contains("starting") && log.contains("\"ready\""),
        "{log}"
    );
}

#[tokio::test]
async fn stop_and_resume_hang_and_wake_the_process() {
    let child = RunningChild::spawn(&spec("s", &format!("{READY}; exec sleep 30")))
        .await
        .unwrap();
    child.signal(Signal::SIGSTOP).unwrap();
    let mut stopped = false;
    for _ in 0..200 {
        if state(child.pid) == Some('T') {
            stopped = true;
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(stopped, "state {:?}", state(child.pid));
    child.signal(Signal::SIGCONT).unwrap();
    let exit = child.shutdown(Duration::from_secs(5)).await.expect("exits");
    assert_eq!(exit.status, "killed by SIGTERM");
}

#[tokio::test]
async fn a_child_that_dies_before_ready_is_an_error_not_a_hang() {
    let err = RunningChild::spawn(&spec("d", "echo oops >&2; exit 3"))
        .await
        .unwrap_err();
    match err {
        ChildError::DiedEarly { status, .. } => assert_eq!(status, "exit code 3"),
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn a_child_that_never_gets_ready_times_out_and_is_killed() {
    let mut s = spec("n", "exec sleep 30");
    s.ready_timeout = Duration::from_millis(300);
    let err = RunningChild::spawn(&s).await.unwrap_err();
    assert!(matches!(err, ChildError::NotReady { .. }), "{err}");
}

#[tokio::test]
async fn a_missing_program_is_a_clear_error() {
    let mut s = spec("m", "");
    s.program = Some("/nonexistent/ninefold".into());
    let err = RunningChild::spawn(&s).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot start /nonexistent/ninefold"),
        "{err}"
    );
}

mod supervisor {
    use std::sync::Arc;
    use std::time::Duration;

    use ninefold::topology::supervisor::{Lifecycle, SlotSpec, Supervisor};
    use nix::sys::signal::Signal;

    fn slot(name: &str, replace_after: Option<Duration>) -> SlotSpec {
        let dir = std::env::temp_dir().join(format!("ninefold-supervisor-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        SlotSpec {
            name: name.into(),
            args: Arc::new(|| {
                vec![
                    "-c".into(),
                    format!("{}; exec sleep 30", super::READY).into(),
                ]
            }),
            program: Some("/bin/sh".into()),
            log: dir.join(format!("{name}.log")),
            ready_timeout: Duration::from_secs(20),
            ready: Default::default(),
            replace_after,
            env: Vec::new(),
            cwd: None,
        }
    }

    async fn wait_for_event(sup: &Supervisor, name: &str, kind: Lifecycle) -> bool {
        sup.wait_for_event(
            |e| e.instance == name && e.event == kind,
            Duration::from_secs(20),
        )
        .await
    }

    #[tokio::test]
    async fn unexpected_death_is_an_event_and_the_instance_is_replaced() {
        let sup = Supervisor::new();
        sup.start(slot("api-0", Some(Duration::from_millis(50))))
            .await
            .unwrap();
        let pid = sup.child("api-0").unwrap().pid;
        // Killed behind the supervisor's back: unexpected.
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL).unwrap();
        assert!(
            wait_for_event(&sup, "api-0", Lifecycle::DiedUnexpectedly).await,
            "{:?}",
            sup.events()
        );
        assert!(
            wait_for_event(&sup, "api-0", Lifecycle::Replaced).await,
            "{:?}",
            sup.events()
        );
        let new_pid = sup.child("api-0").unwrap().pid;
        assert_ne!(new_pid, pid);
        sup.shutdown(Duration::from_secs(5)).await;
        assert!(sup.child("api-0").is_none());
    }

    #[tokio::test]
    async fn a_kill_ninefold_sends_is_expected_and_restart_now_brings_it_back() {
        let sup = Supervisor::new();
        sup.start(slot("gateway-0", None)).await.unwrap();
        sup.kill_and_wait("gateway-0", Signal::SIGKILL, Duration::from_secs(10))
            .await
            .unwrap();
        assert!(
            wait_for_event(&sup, "gateway-0", Lifecycle::Exited).await,
            "{:?}",
            sup.events()
        );
        assert!(
            !sup.events()
                .iter()
                .any(|e| e.event == Lifecycle::DiedUnexpectedly)
        );
        sup.restart_now("gateway-0").await.unwrap();
        assert!(sup.child("gateway-0").is_some());
        assert!(
            sup.restart_now("gateway-0").await.is_err(),
            "already running"
        );
        sup.shutdown(Duration::from_secs(5)).await;
    }
}

/// `ninefold guard -- sh -c SCRIPT`, waited for at most 30 s.
fn guard(script: &str) -> std::process::ExitStatus {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ninefold"))
        .args(["guard", "--", "/bin/sh", "-c", script])
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    rx.recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGKILL);
            panic!("the guard of {script:?} did not end")
        })
        .unwrap()
}

#[test]
fn the_guard_ends_as_its_program_ended() {
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(guard("exit 7").code(), Some(7));
    assert_eq!(guard("exit 0").code(), Some(0));
    // Killed by a signal: the guard dies by the same one, so the run says so.
    assert_eq!(guard("kill -TERM $$").signal(), Some(15));
    assert_eq!(guard("kill -KILL $$").signal(), Some(9));
    // A program that is not there: the shell's 127, and why on stderr.
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_ninefold"))
        .args(["guard", "--", "/nonexistent/program"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(127));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("cannot start /nonexistent/program"),
        "{missing:?}"
    );
}
