//! The Redis client's replies as [`crate::resp::Reply`]: one reply model for the whole tool.
//!
//! The client's value is written back as the RESP2 bytes it stands for and read by
//! [`crate::resp`], strictly and within its limits, like every other reply. RESP3 types
//! (a URL with `?protocol=resp3`) become their RESP2 forms, as a RESP2 server sends them: a
//! map a flat array of field/value pairs, a set an array, a double, boolean or big number
//! its text.

use redis::Value;

use crate::resp::OwnedReply;

/// The client's value as an owned reply; `Err` when it cannot be one (over a limit).
pub(super) fn owned(value: &Value) -> Result<OwnedReply, String> {
    let mut bytes = Vec::new();
    encode(value, &mut bytes);
    OwnedReply::from_resp(bytes).map_err(|e| format!("a reply cannot be read: {e}"))
}

fn encode(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Nil => out.extend_from_slice(b"$-1\r\n"),
        Value::Int(n) => {
            out.push(b':');
            out.extend_from_slice(n.to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Value::BulkString(bytes) => bulk(bytes, out),
        Value::SimpleString(text) => bulk(text.as_bytes(), out),
        Value::Okay => bulk(b"OK", out),
        Value::VerbatimString { text, .. } => bulk(text.as_bytes(), out),
        Value::Double(d) => bulk(d.to_string().as_bytes(), out),
        Value::Boolean(b) => out.extend_from_slice(if *b { b":1\r\n" } else { b":0\r\n" }),
        Value::BigNumber(n) => bulk(n, out),
        Value::Array(items) | Value::Set(items) => array(items.len(), items.iter(), out),
        Value::Map(pairs) => array(pairs.len() * 2, pairs.iter().flat_map(|(k, v)| [k, v]), out),
        Value::Attribute { data, .. } => encode(data, out),
        Value::Push { data, .. } => array(data.len(), data.iter(), out),
        Value::ServerError(error) => {
            // An error is one line: a CR or LF in its words (never sent by Redis) is a space.
            let line = match error.details() {
                Some(details) if !details.is_empty() => format!("{} {details}", error.code()),
                _ => error.code().to_owned(),
            };
            out.push(b'-');
            out.extend(
                line.bytes()
                    .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
            );
            out.extend_from_slice(b"\r\n");
        }
        // Values a later client version adds: shown as their text, never dropped silently.
        #[allow(unreachable_patterns)]
        other => bulk(format!("{other:?}").as_bytes(), out),
    }
}

fn bulk(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'$');
    out.extend_from_slice(bytes.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

fn array<'v>(len: usize, items: impl Iterator<Item = &'v Value>, out: &mut Vec<u8>) {
    out.push(b'*');
    out.extend_from_slice(len.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    for item in items {
        encode(item, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::Reply;

    fn bulk(text: &str) -> Value {
        Value::BulkString(text.as_bytes().to_vec())
    }

    #[test]
    fn client_values_read_as_their_resp2_replies() {
        let error =
            redis::parse_redis_value(b"-WRONGTYPE Operation against a key\r\n").expect("error");
        let cases = [
            (Value::Okay, Reply::Bytes(b"OK")),
            (
                Value::SimpleString("QUEUED".into()),
                Reply::Bytes(b"QUEUED"),
            ),
            (Value::Int(-3), Reply::Int(-3)),
            (Value::Nil, Reply::Nil),
            (
                error,
                Reply::Error {
                    code: "WRONGTYPE",
                    details: "Operation against a key",
                },
            ),
        ];
        for (value, expected) in cases {
            let owned = owned(&value).expect("reads");
            assert_eq!(owned.reply(), expected, "{value:?}");
        }
    }

    /// A RESP3 map (a URL with `?protocol=resp3`) reads as the flat array RESP2 sends, and a
    /// set as an array: readers see one shape.
    #[test]
    fn resp3_maps_and_sets_read_as_their_resp2_forms() {
        let map = Value::Map(vec![
            (bulk("flags"), Value::Set(vec![bulk("on")])),
            (bulk("keys"), bulk("~a:*")),
        ]);
        let flat = Value::Array(vec![
            bulk("flags"),
            Value::Array(vec![bulk("on")]),
            bulk("keys"),
            bulk("~a:*"),
        ]);
        assert_eq!(
            owned(&map).expect("map").reply(),
            owned(&flat).expect("flat").reply()
        );
    }

    /// A RESP2 reply of `ACL GETUSER` on Valkey 9.1, cut to the fields these tests need.
    fn valkey_reply(databases: &str) -> Value {
        Value::Array(vec![
            bulk("flags"),
            Value::Array(vec![bulk("on"), bulk("nopass")]),
            bulk("commands"),
            bulk("-@all +get"),
            bulk("databases"),
            bulk(databases),
        ])
    }

    fn user(value: &Value) -> crate::live::LiveUser {
        crate::live::acl::parse_user(&owned(value).expect("reads").reply())
    }

    /// The same reply over RESP3, where the user is a map and `flags` a set.
    #[test]
    fn resp3_maps_read_the_same() {
        let Value::Array(flat) = valkey_reply("db=2") else {
            unreachable!("built as an array")
        };
        let pairs = flat
            .chunks(2)
            .map(|pair| {
                let value = match &pair[1] {
                    Value::Array(items) if pair[0] == bulk("flags") => Value::Set(items.clone()),
                    other => other.clone(),
                };
                (pair[0].clone(), value)
            })
            .collect();
        let user_of_map = user(&Value::Map(pairs));
        assert_eq!(user_of_map.flags, ["on", "nopass"]);
        assert_eq!(user_of_map.databases.as_deref(), Some("db=2"));
        assert_eq!(user_of_map.commands, "-@all +get");
        assert_eq!(user_of_map, user(&valkey_reply("db=2")));
    }

    /// Over RESP3 each selector is a map too, and a field this version does not know, in a
    /// selector, is kept (and is a change when not empty).
    #[test]
    fn resp3_selector_maps_and_unknown_selector_fields() {
        use crate::acl::Catalog;
        let map = |pairs: &[(&str, &str)]| {
            Value::Map(pairs.iter().map(|(k, v)| (bulk(k), bulk(v))).collect())
        };
        let reply = Value::Map(vec![
            (bulk("flags"), Value::Set(vec![bulk("on")])),
            (bulk("commands"), bulk("-@all")),
            (
                bulk("selectors"),
                Value::Array(vec![map(&[
                    ("commands", "-@all +get"),
                    ("keys", "%R~k"),
                    ("channels", ""),
                    ("databases", "db=3"),
                    ("future", "x"),
                    ("empty", ""),
                ])]),
            ),
        ]);
        let user = user(&reply);
        let selector = &user.selectors[0];
        assert_eq!(selector.commands, "-@all +get");
        assert_eq!(selector.databases.as_deref(), Some("db=3"));
        assert_eq!(
            selector.other_fields,
            [
                ("future".to_owned(), "x".to_owned()),
                ("empty".to_owned(), String::new())
            ]
        );
        let catalog = Catalog::of(&[("read", &["get"])]);
        let permissions = user.permissions(&catalog).expect("known rules");
        let read = permissions.selectors.first().expect("one selector");
        assert_eq!(read.databases.as_deref(), Some("db=3"));
        assert_eq!(read.other.keys().collect::<Vec<_>>(), ["future"]);
    }
}
