//! The consumer kit as the tests see it: the published `OrderCreated` JSON
//! Schema and a validator for it ([`validate_order_created`], the pinned
//! Python `jsonschema` of `.venv/moto`, run once per call over every
//! document), the Python consumer written from the guide
//! ([`consumer_script`]), and every filter policy the documentation shows
//! ([`documented_filter_policies`]).

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

use yaml_rust2::YamlLoader;

use crate::{INSTALL_HINT, TempDir, in_ci, moto_server_path, workspace_root};

/// The committed OrderCreated v1 schema.
pub fn order_created_schema() -> PathBuf {
    workspace_root()
        .join("shared/domain")
        .join(orders_domain::schema::ORDER_CREATED_V2_SCHEMA_PATH)
}

/// The project's Python, beside moto (`.venv/moto/bin/python`), which has
/// boto3 and the pinned `jsonschema`.
pub fn python() -> PathBuf {
    moto_server_path().with_file_name("python")
}

/// `tests/consumer/consume.py`: the consumer written from the guide.
pub fn consumer_script() -> PathBuf {
    workspace_root().join("tests/consumer/consume.py")
}

/// Whether the project's Python is there; outside CI a missing one skips
/// the caller (with a notice), under CI it fails it.
pub fn python_available() -> bool {
    let python = python();
    if python.is_file() {
        return true;
    }
    assert!(!in_ci(), "{} not found: {INSTALL_HINT}", python.display());
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: {} not found; {INSTALL_HINT} to validate events against the schema",
        python.display()
    );
    false
}

/// Validates every document against the committed OrderCreated v1 schema
/// (formats included) in one Python run, and panics naming each error.
/// Returns how many were validated, 0 when Python is missing outside CI.
pub fn validate_order_created(documents: &[String]) -> usize {
    if !python_available() {
        return 0;
    }
    assert!(!documents.is_empty(), "nothing to validate");
    let dir = TempDir::new("schema-docs");
    let file = dir.path().join("documents.jsonl");
    let mut lines = String::new();
    for document in documents {
        // One document per line: re-serialise compactly.
        let value: serde_json::Value = serde_json::from_str(document).expect("a JSON document");
        lines.push_str(&value.to_string());
        lines.push('\n');
    }
    std::fs::write(&file, lines).expect("write the documents");
    let output = Command::new(python())
        .arg(workspace_root().join("tests/consumer/validate.py"))
        .arg(order_created_schema())
        .arg(&file)
        .output()
        .expect("run validate.py");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "events do not match {}:\n{stdout}{}",
        order_created_schema().display(),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(&format!("{} valid, 0 invalid", documents.len())),
        "{stdout}"
    );
    documents.len()
}

/// Every filter policy the documentation shows a consuming team, by where
/// it is shown: each ```` ```json filter-policy ```` block of
/// `infra/README.md`, the `FilterPolicy` of each `aws sns subscribe
/// --attributes` line there, and (last) the `FilterPolicy` default of
/// `infra/consumer-template.yaml`.
pub fn documented_filter_policies() -> Vec<(String, String)> {
    let root = workspace_root();
    let readme = std::fs::read_to_string(root.join("infra/README.md")).expect("infra/README.md");
    let mut policies = Vec::new();
    let mut block: Option<String> = None;
    for (number, line) in readme.lines().enumerate() {
        match &mut block {
            None if line.trim_start().starts_with("```json filter-policy") => {
                block = Some(String::new());
            }
            Some(text) if line.trim_start().starts_with("```") => {
                policies.push((format!("infra/README.md:{}", number + 1), text.clone()));
                block = None;
            }
            Some(text) => {
                text.push_str(line);
                text.push('\n');
            }
            None => {}
        }
    }
    // `aws sns subscribe ... --attributes '{..."FilterPolicy":"{...}"}'` lines.
    for (number, line) in readme.lines().enumerate() {
        if !line.contains(r#""FilterPolicy":""#) {
            continue;
        }
        let (Some(start), Some(end)) = (line.find("'{"), line.rfind("}'")) else {
            panic!("infra/README.md:{}: unreadable --attributes", number + 1);
        };
        let attributes: serde_json::Value =
            serde_json::from_str(&line[start + 1..=end]).expect("--attributes is JSON");
        let policy = attributes["FilterPolicy"]
            .as_str()
            .expect("a FilterPolicy string");
        policies.push((format!("infra/README.md:{}", number + 1), policy.to_owned()));
    }
    let template = std::fs::read_to_string(root.join("infra/consumer-template.yaml"))
        .expect("infra/consumer-template.yaml");
    let docs = YamlLoader::load_from_str(&template).expect("valid YAML");
    let default = docs[0]["Parameters"]["FilterPolicy"]["Default"]
        .as_str()
        .expect("a FilterPolicy default");
    policies.push((
        "infra/consumer-template.yaml FilterPolicy default".to_owned(),
        default.to_owned(),
    ));
    policies
}
