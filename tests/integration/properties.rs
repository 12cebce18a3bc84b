//! Property tests of the offline path (proptest): no input makes it panic or point outside
//! the file, and every generated well-formed topology is valid.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use proptest::prelude::*;
use redis_topology::validate::validate_text;

fn validate(text: &str) -> redis_topology::validate::Report {
    let vars: HashMap<String, String> = HashMap::new();
    validate_text(
        Path::new("/nonexistent/prop.yaml"),
        text.to_owned(),
        None,
        false,
        &vars,
    )
}

/// YAML-ish text: fragments a topology is made of, shuffled into mostly-broken documents.
fn yamlish() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        Just("version: 1\n".to_owned()),
        Just("namespace: app\n".to_owned()),
        Just("streams:\n".to_owned()),
        Just("  s:\n".to_owned()),
        Just("    retention: { maxlen: 5 }\n".to_owned()),
        Just("    groups: { g: { start: \"$\" } }\n".to_owned()),
        Just("acl: { users: { u: { commands: [\"+@all\"] } } }\n".to_owned()),
        Just("environments: { dev: { namespace: d } }\n".to_owned()),
        Just("&a [*a]\n".to_owned()),
        Just("<<: *x\n".to_owned()),
        "[ -~\t\n]{0,20}",
        "\\PC{0,8}",
    ];
    prop::collection::vec(fragment, 0..12).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn never_panics_and_points_inside_the_file(text in yamlish()) {
        let report = validate(&text);
        for d in &report.diagnostics {
            if let Some(span) = d.span {
                let file = report.sources.get(span.file).expect("span's file is known");
                prop_assert!(span.start() <= file.text.len(), "{d:?}");
                prop_assert!(!d.message.is_empty());
            }
        }
    }

    #[test]
    fn generated_topologies_are_valid(
        streams in prop::collection::btree_map("[a-z]{1,8}(:[a-z0-9_-]{1,8}){0,2}", (1u64..1_000_000, any::<bool>(), 0usize..3), 1..30),
        namespace in "[a-z][a-z0-9-]{0,10}",
    ) {
        let mut text = format!("version: 1\nnamespace: {namespace}\nstreams:\n");
        for (name, (maxlen, approximate, groups)) in &streams {
            let _ = writeln!(text, "  {name}:\n    retention: {{ maxlen: {maxlen}, approximate: {approximate} }}");
            if *groups > 0 {
                text.push_str("    groups:\n");
                for g in 0..*groups {
                    let _ = writeln!(text, "      g{g}: {{ start: \"{}\" }}", if g == 0 { "$" } else { "0" });
                }
            }
        }
        let report = validate(&text);
        prop_assert!(report.diagnostics.is_empty(), "{text}\n{:#?}", report.diagnostics);
    }
}
