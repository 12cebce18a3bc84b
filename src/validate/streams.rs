//! Streams: retention present, schema references resolve.

use crate::diagnostics::{Code, Diagnostic, Diagnostics, one_of, suggest};
use crate::model::types::Topology;

pub fn check(topology: &Topology, diags: &mut Diagnostics) {
    let schema_names: Vec<&str> = topology.schemas.iter().flat_map(|s| s.names()).collect();
    let known: std::collections::HashSet<&str> = schema_names.iter().copied().collect();
    for (name, stream) in topology.streams.iter().flat_map(|s| s.iter()) {
        if stream.retention.is_none() && !stream.retention_invalid {
            diags.push(
                Diagnostic::warning(
                    Code::RetentionMissing,
                    format!("stream `{}` has no retention", name.value),
                )
                .at(name.span)
                .label("grows without bound")
                .help("add `retention: { maxlen: N }` or `{ max_age: 7d }`, or `retention: unbounded` if it must keep everything"),
            );
        }
        if let Some(schema) = &stream.schema
            && !known.contains(schema.value.as_str())
        {
            let declared = if schema_names.is_empty() {
                "this file declares no `schemas`".to_owned()
            } else {
                format!("declared schemas: {}", one_of(&schema_names))
            };
            let help = suggest(&schema.value, &schema_names, declared);
            diags.push(
                Diagnostic::error(
                    Code::SchemaUnknownRef,
                    format!(
                        "stream `{}` refers to an undeclared schema `{}`",
                        name.value, schema.value
                    ),
                )
                .at(schema.span)
                .label("not a key of `schemas`")
                .help(help),
            );
        }
    }
}
