//! Every alarm in `infra/template.yaml` has its section in
//! `infra/RUNBOOK.md` (`## <AlarmLogicalId>`), and its `AlarmDescription`
//! links to that section; every section names the `orders-ops` commands to
//! look and to fix.

// Test code: a failed check stops the test with its reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use yaml_rust2::{Yaml, YamlLoader};

const TEMPLATE: &str = include_str!("../../template.yaml");
const RUNBOOK: &str = include_str!("../../RUNBOOK.md");

/// The repository-relative link each AlarmDescription ends with (followed by
/// the section's anchor: the logical id in lower case).
const LINK: &str = "infra/RUNBOOK.md#";

/// (logical id, AlarmDescription) of every `AWS::CloudWatch::Alarm`.
fn alarms() -> Vec<(String, String)> {
    let docs = YamlLoader::load_from_str(TEMPLATE).expect("infra/template.yaml is valid YAML");
    let Yaml::Hash(resources) = &docs[0]["Resources"] else {
        panic!("the template has Resources");
    };
    let alarms: Vec<(String, String)> = resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::CloudWatch::Alarm"))
        .map(|(id, r)| {
            (
                id.as_str().unwrap().to_owned(),
                r["Properties"]["AlarmDescription"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    assert!(alarms.len() >= 10, "the template's alarms: {alarms:?}");
    alarms
}

/// The text of the runbook section `## id`, up to the next `## `.
fn section(id: &str) -> Option<&'static str> {
    let heading = format!("\n## {id}\n");
    let start = RUNBOOK.find(&heading)? + heading.len();
    let rest = &RUNBOOK[start..];
    Some(rest.find("\n## ").map_or(rest, |end| &rest[..end]))
}

#[test]
fn every_alarm_has_a_runbook_section_that_says_what_to_run() {
    for (id, _) in alarms() {
        let text =
            section(&id).unwrap_or_else(|| panic!("infra/RUNBOOK.md has no `## {id}` section"));
        for part in [
            "**What fired.**",
            "**For orders.**",
            "**Look.**",
            "**Fix.**",
        ] {
            assert!(text.contains(part), "`## {id}` lacks {part}");
        }
        assert!(
            text.matches("orders-ops").count() >= 2,
            "`## {id}` names an orders-ops command to look and one to fix"
        );
    }
}

#[test]
fn every_alarm_description_links_to_its_section() {
    for (id, description) in alarms() {
        let anchor = id.to_lowercase();
        assert!(
            description.ends_with(&format!("{LINK}{anchor}")),
            "{id}'s AlarmDescription does not end with {LINK}{anchor}: {description}"
        );
        // CloudWatch's limit (AlarmDescription, 0-1024 characters).
        assert!(
            description.len() <= 1024,
            "{id}'s AlarmDescription is too long"
        );
    }
}

#[test]
fn the_runbook_has_no_section_for_an_alarm_that_is_gone() {
    let ids: Vec<String> = alarms().into_iter().map(|(id, _)| id).collect();
    for line in RUNBOOK.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            if heading.ends_with("Alarm") {
                assert!(
                    ids.iter().any(|id| id == heading),
                    "`## {heading}` names no alarm of the template"
                );
            }
        }
    }
}
