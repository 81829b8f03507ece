//! The command line's flags: documented, parsed, refused where they do not apply.

use super::*;
use clap::CommandFactory;

#[test]
fn every_flag_and_subcommand_is_documented() {
    Cli::command().debug_assert();
    fn walk(command: &clap::Command) {
        for arg in command.get_arguments() {
            assert!(
                arg.get_help().is_some(),
                "{} {} has no help",
                command.get_name(),
                arg.get_id()
            );
        }
        for sub in command.get_subcommands() {
            assert!(sub.get_about().is_some(), "{} has no help", sub.get_name());
            walk(sub);
        }
    }
    walk(&Cli::command());
}

#[test]
fn renotify_takes_one_order_or_a_window_of_instants() {
    let args = |order: Option<&str>, since: Option<&str>, until: Option<&str>| RenotifyArgs {
        order: order.map(str::to_owned),
        since: since.map(str::to_owned),
        until: until.map(str::to_owned),
    };
    assert_eq!(
        selection(&args(Some("23214"), None, None)).unwrap(),
        Selection::Order("23214".into())
    );
    assert!(matches!(
        selection(&args(
            None,
            Some("2026-11-24T00:00:00Z"),
            Some("2026-11-25T00:00:00Z")
        )),
        Ok(Selection::Created { .. })
    ));
    let backwards = selection(&args(
        None,
        Some("2026-11-25T00:00:00Z"),
        Some("2026-11-24T00:00:00Z"),
    ));
    assert_eq!(
        backwards.unwrap_err().to_string(),
        "--since must be before --until"
    );
    let bad = selection(&args(None, Some("yesterday"), Some("2026-11-24T00:00:00Z")));
    assert!(bad.unwrap_err().to_string().contains("RFC 3339"));
}

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("orders-ops").chain(args.iter().copied()))
}

#[test]
fn renotify_and_the_notifier_redrive_are_paced_at_50_unless_told() {
    let Command::Renotify { rate, .. } = parse(&["renotify", "--order", "o-1"]).unwrap().command
    else {
        panic!("renotify parses as Renotify");
    };
    assert_eq!(rate, Rate::DEFAULT);
    assert_eq!(Rate::DEFAULT.per_second(), 50);
    let Command::Renotify { rate, .. } = parse(&["renotify", "--order", "o-1", "--rate", "5"])
        .unwrap()
        .command
    else {
        panic!("renotify parses as Renotify");
    };
    assert_eq!(rate.per_second(), 5);
    let Command::Dlq {
        action: DlqAction::Redrive { rate, .. },
    } = parse(&["dlq", "redrive", "notifier", "--rate", "7"])
        .unwrap()
        .command
    else {
        panic!("dlq redrive parses as Redrive");
    };
    assert_eq!(rate.map(Rate::per_second), Some(7));
    // --rate selects no orders
    assert!(parse(&["renotify", "--rate", "5"]).is_err());
}

#[test]
fn rate_refuses_zero_and_negative_numbers_with_the_rule() {
    for bad in ["0", "-1", "-50"] {
        for args in [
            &["renotify", "--order", "o-1", "--rate", bad][..],
            &["dlq", "redrive", "notifier", "--rate", bad][..],
        ] {
            let err = parse(args).unwrap_err();
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::ValueValidation,
                "{args:?}"
            );
            let text = err.to_string();
            assert!(
                text.contains("--rate") && text.contains("give at least 1"),
                "{args:?}: {text}"
            );
        }
    }
}

#[test]
fn rate_is_refused_for_the_worker_dlq_and_max_for_the_notifiers() {
    let worker = parse(&["dlq", "redrive", "worker", "--rate", "5"]).unwrap();
    let err = check_stage_flags(&worker.command).unwrap_err();
    assert!(
        err.to_string()
            .contains("--rate applies to the notifier DLQ"),
        "{err}"
    );
    let notifier = parse(&["dlq", "redrive", "notifier", "--max", "5"]).unwrap();
    let err = check_stage_flags(&notifier.command).unwrap_err();
    assert!(
        err.to_string().contains("--max applies to the worker DLQ"),
        "{err}"
    );
    for fine in [
        &["dlq", "redrive", "worker", "--max", "5"][..],
        &["dlq", "redrive", "notifier", "--rate", "5"][..],
        &["renotify", "--order", "o-1", "--rate", "5"][..],
    ] {
        assert!(
            check_stage_flags(&parse(fine).unwrap().command).is_ok(),
            "{fine:?}"
        );
    }
}
