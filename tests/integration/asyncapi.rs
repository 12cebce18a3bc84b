//! `redis-topology export asyncapi` through the real binary: the document validates against
//! the official AsyncAPI 3.0.0 JSON Schema (vendored in tests/fixtures/asyncapi, validated
//! offline), refers only inside itself, holds no secret; a snapshot of a small topology's
//! document; and the command line's errors.

use serde_json::{Value, json};

use super::util::{bin, repo, text, topology_file};

/// The shipped topology's users' password variables, set to values the document must never
/// contain.
const PASSWORDS: &[(&str, &str)] = &[
    ("CAMPAIGN_MANAGER_PASSWORD", "pw-campaign-manager-4e1f"),
    ("CM_SUBSCRIBER_PASSWORD", "pw-cm-subscriber-9a2c"),
    ("ORCHESTRATOR_PASSWORD", "pw-orchestrator-77d0"),
    ("RAG_WORKER_PASSWORD", "pw-rag-worker-c3b5"),
    ("PERSIST_WRITER_PASSWORD", "pw-persist-writer-0f9e"),
    ("AUDITOR_PASSWORD", "pw-auditor-5d61"),
    ("OPS_MONITOR_PASSWORD", "pw-ops-monitor-a8e4"),
    ("DLQ_READER_PASSWORD", "pw-dlq-reader-2b7a"),
];

/// The official schema, as vendored.
fn asyncapi_schema() -> Value {
    let path = repo().join("tests/fixtures/asyncapi/3.0.0-without-id.json");
    let text = std::fs::read_to_string(&path).expect("the vendored AsyncAPI schema");
    serde_json::from_str(&text).expect("the vendored AsyncAPI schema is JSON")
}

/// Every error the official schema finds in `document` (formats checked too), one line each.
fn schema_errors(document: &Value) -> Vec<String> {
    let schema = asyncapi_schema();
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .should_validate_formats(true)
        .build(&schema)
        .expect("the AsyncAPI schema compiles offline");
    validator
        .iter_errors(document)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// Run `export asyncapi` with these arguments (from the repository root, passwords set);
/// expect success, return the document.
fn export(args: &[&str]) -> Value {
    let mut command = bin();
    command.args(["export", "asyncapi"]).args(args);
    for (var, value) in PASSWORDS {
        command.env(var, value);
    }
    let out = command.output().expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    serde_json::from_slice(&out.stdout).expect("the document is JSON")
}

/// Every `$ref` in a value, with where it is; not inside data (`const`, `enum`, `default`,
/// `examples`), where a `$ref` is no reference.
fn references(value: &Value, at: &str, found: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                match (key.as_str(), item) {
                    ("$ref", Value::String(target)) => found.push((at.to_owned(), target.clone())),
                    ("const" | "enum" | "default" | "examples", _) => {}
                    _ => references(item, &format!("{at}/{key}"), found),
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                references(item, &format!("{at}/{i}"), found);
            }
        }
        _ => {}
    }
}

/// The document is self-contained: every reference is `#/...` and points at something in it.
fn assert_self_contained(document: &Value) {
    let mut found = Vec::new();
    references(document, "", &mut found);
    assert!(!found.is_empty());
    for (at, target) in found {
        let pointer = target
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{at}: `{target}` points outside the document"));
        assert!(
            document.pointer(pointer).is_some(),
            "{at}: `{target}` points at nothing"
        );
    }
}

#[test]
fn the_shipped_topology_exports_a_valid_asyncapi_3_0_0_document_in_every_environment() {
    for env in ["dev", "staging", "prod"] {
        let document = export(&["--env", env]);
        let errors = schema_errors(&document);
        assert!(
            errors.is_empty(),
            "{env}: {} errors:\n{}",
            errors.len(),
            errors.join("\n")
        );
        assert_self_contained(&document);
        assert_eq!(document["asyncapi"], "3.0.0");
        let namespace = if env == "dev" {
            "dev-agentic"
        } else {
            "agentic"
        };
        assert_eq!(document["info"]["title"], namespace);
        // A channel per stream, its address the full key.
        let channels = document["channels"].as_object().expect("channels");
        assert_eq!(channels.len(), 14, "{env}");
        assert_eq!(
            document["channels"]["rag.tasks"]["address"],
            format!("{namespace}:rag:tasks")
        );
        // A message per schema version: rag-task has two.
        let messages = document["channels"]["rag.tasks"]["messages"]
            .as_object()
            .expect("messages");
        let ids: Vec<&String> = messages.keys().collect();
        assert_eq!(ids, ["rag-task.v1", "rag-task.v2"], "{env}");
        // Who sends and who receives, from the grants; dev's users have the prefix.
        let prefix = if env == "dev" { "dev-" } else { "" };
        let scheme =
            |user: &str| json!({ "$ref": format!("#/components/securitySchemes/{prefix}{user}") });
        assert_eq!(
            document["operations"]["send.rag.tasks"]["security"],
            json!([scheme("dlq-reader"), scheme("orchestrator")]),
            "{env}"
        );
        assert_eq!(
            document["operations"]["receive.rag.tasks.rag-workers"]["security"],
            json!([scheme("rag-worker")]),
            "{env}"
        );
        assert_eq!(
            document["channels"]["rag.dlq"]["x-redis-dlq-of"], "rag:tasks",
            "{env}"
        );
        // No secret: not a password, not its hash.
        let text = document.to_string();
        for (var, password) in PASSWORDS {
            assert!(
                !text.contains(password),
                "{env}: the password of {var} is in the document"
            );
            let hash = sha256_hex(password);
            assert!(
                !text.contains(&hash),
                "{env}: the hash of {var} is in the document"
            );
        }
        assert!(!text.contains("sha256"), "{env}");
    }
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The negative control: the same validator rejects documents broken in the ways a bug
/// would break them, so its "0 errors" above means something (it checks nested objects,
/// `additionalProperties`, required fields, the payload against the draft-07 meta-schema, and
/// reference formats).
#[test]
fn the_validator_rejects_broken_documents() {
    let document = export(&["--env", "prod"]);
    assert!(schema_errors(&document).is_empty());
    type Break = fn(&mut Value);
    let breaks: [(&str, Break); 7] = [
        ("another AsyncAPI version", |d| {
            d["asyncapi"] = json!("2.6.0")
        }),
        ("no info.version", |d| {
            d["info"].as_object_mut().expect("info").remove("version");
        }),
        ("an operation without its action", |d| {
            d["operations"]["send.rag.tasks"]
                .as_object_mut()
                .expect("operation")
                .remove("action");
        }),
        ("an action that is not send or receive", |d| {
            d["operations"]["send.rag.tasks"]["action"] = json!("publish");
        }),
        ("a channel property that is not an extension", |d| {
            d["channels"]["rag.tasks"]["redis-groups"] = json!({});
        }),
        ("a payload schema that is no draft-07 schema", |d| {
            d["components"]["messages"]["rag-task.v2"]["payload"]["schema"]["type"] = json!(12);
        }),
        ("a security scheme of an unknown type", |d| {
            d["components"]["securitySchemes"]["rag-worker"]["type"] = json!("password");
        }),
    ];
    for (what, broken) in breaks {
        let mut bad = document.clone();
        broken(&mut bad);
        let errors = schema_errors(&bad);
        assert!(!errors.is_empty(), "{what}: the broken document validated");
    }
}

/// A small topology with every part of the mapping: a `json` schema with two versions (one
/// marked breaking) and a local `$ref`, a `fields` schema, a dead-letter stream, groups with
/// and without consumers, an unbounded stream without schema, a key with a hash tag, users through their own keys
/// and through `access` blocks (one disabled), and a user name prefix.
const SMALL: &str = r##"version: 1
namespace: "shop"
schemas:
  order:
    description: An order placed in the shop.
    encoding: json
    field: body
    version_field: ver
    compatibility: none
    versions:
      1:
        schema:
          type: object
          required: [id]
          properties:
            id: { type: string }
          examples: [{ id: "o-1" }]
      2:
        breaking: true
        schema:
          $schema: "http://json-schema.org/draft-07/schema#"
          description: Version 2 names its lines.
          type: object
          required: [id, lines]
          definitions:
            line: { type: object, required: [sku], properties: { sku: { type: string }, next: { $ref: "#/definitions/line" } } }
          properties:
            id: { type: string }
            lines: { type: array, items: { $ref: "#/definitions/line" } }
            note: { const: { $ref: "#/not/a/reference" } }
  ping:
    encoding: fields
    versions:
      1: { schema: { type: object, required: [from], properties: { from: { type: string } } } }
streams:
  orders:
    description: Orders, in the order they are placed.
    schema: order
    retention: { maxlen: 5000 }
    producers: [web]
    groups:
      billing: { start: "0", consumers: [billing], description: Bills every order. }
      shipping: { start: "$", entries_read: 0 }
  orders:dlq:
    schema: order
    dlq_of: orders
    durable: true
    retention: { max_age: 7d, maxlen: 100, approximate: false }
    producers: [billing]
  pings:
    schema: ping
    retention: unbounded
  raw_events:
    retention: unbounded
  "{eu}:orders":
    retention: { maxlen: 10 }
acl:
  user_names: { prefix: "t-" }
  users:
    default: { enabled: false }
    web:
      description: The shop's web front end.
      passwords: [{ env: WEB_PASSWORD }]
      keys: ["orders"]
      commands: ["+xadd"]
    billing:
      passwords: [{ sha256: 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8 }]
      commands: ["+ping"]
      access:
        - keys: ["orders"]
          preset: consumer
        - keys: { write: ["orders:dlq"] }
          preset: producer
        - keys: { read: ["pings", "raw_events"] }
          commands: ["+xread"]
    retired:
      enabled: false
      passwords: [{ env: RETIRED_PASSWORD }]
      keys: ["*"]
      commands: ["+@all"]
"##;

#[test]
fn a_small_topology_exports_this_document() {
    let file = topology_file(SMALL);
    let path = file.path().to_str().expect("utf-8 path");
    let document = export(&[
        path,
        "--host",
        "redis.shop.internal:6379",
        "--api-version",
        "2.1.0",
    ]);
    let errors = schema_errors(&document);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    assert_self_contained(&document);
    insta::assert_json_snapshot!("small_topology", document);
}

#[test]
fn without_users_every_stream_has_a_send_and_nothing_names_users() {
    let file = topology_file(
        "version: 1\nnamespace: \"\"\nstreams:\n  jobs:\n    retention: unbounded\n    groups:\n      workers: {}\n",
    );
    let path = file.path().to_str().expect("utf-8 path");
    let document = export(&[path]);
    assert!(schema_errors(&document).is_empty());
    assert_eq!(document["channels"]["jobs"]["address"], "jobs");
    let operations: Vec<&String> = document["operations"]
        .as_object()
        .expect("ops")
        .keys()
        .collect();
    assert_eq!(operations, ["receive.jobs.workers", "send.jobs"]);
    assert!(
        document["operations"]["send.jobs"]
            .get("security")
            .is_none()
    );
    assert!(document["components"].get("securitySchemes").is_none());
    assert_eq!(document["servers"]["default"]["host"], "{host}");
}

#[test]
fn out_writes_the_printed_document() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out_file = dir.path().join("asyncapi.json");
    let printed = bin()
        .args(["export", "asyncapi", "--env", "staging"])
        .output()
        .expect("run");
    assert_eq!(printed.status.code(), Some(0), "{}", text(&printed));
    let written = bin()
        .args(["export", "asyncapi", "--env", "staging", "--out"])
        .arg(&out_file)
        .output()
        .expect("run");
    assert_eq!(written.status.code(), Some(0), "{}", text(&written));
    assert!(written.stdout.is_empty(), "{}", text(&written));
    let file = std::fs::read(&out_file).expect("the document was written");
    assert_eq!(
        file, printed.stdout,
        "--out writes what is printed, byte for byte"
    );
}

#[test]
fn an_unknown_environment_is_an_error_naming_it() {
    let out = bin()
        .args(["export", "asyncapi", "--env", "qa"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(out.stdout.is_empty(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("env::unknown"), "{stderr}");
    assert!(
        stderr.contains("topology.yaml has no environment `qa`"),
        "{stderr}"
    );
    assert!(stderr.contains("`dev`, `staging` or `prod`"), "{stderr}");
    assert!(
        stderr.contains(
            "error: topology.yaml has no such environment (see --env); nothing was exported"
        ),
        "{stderr}"
    );
}

#[test]
fn command_line_errors_exit_1() {
    let cases: [(&[&str], &str); 3] = [
        (&[], "declares environments: choose one with --env"),
        (
            &["--env", "prod", "--host", "redis://app:secret@redis:6379"],
            "--host takes HOST or HOST:PORT, not a URL",
        ),
        (&["no-such-file.yaml"], "cannot read no-such-file.yaml"),
    ];
    for (args, expected) in cases {
        let out = bin()
            .args(["export", "asyncapi"])
            .args(args)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("secret"), "{args:?}: {stderr}");
    }
}

/// `--quiet` never silences the document: it is what the command is for.
#[test]
fn quiet_still_prints_the_document() {
    let out = bin()
        .args(["-q", "export", "asyncapi", "--env", "prod"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let document: Value = serde_json::from_slice(&out.stdout).expect("the document is JSON");
    assert_eq!(document["asyncapi"], "3.0.0");
}
