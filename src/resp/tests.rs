use proptest::prelude::*;

use super::*;

/// The values of a built array as [`Values`] reads them: depth first, arrays by length.
fn flatten<'a>(items: &[Reply<'a>], out: &mut Vec<Value<'a>>) {
    for item in items {
        match item {
            Reply::Int(n) => out.push(Value::Int(*n)),
            Reply::Bytes(bytes) => out.push(Value::Bytes(bytes)),
            Reply::Error { .. } => out.push(Value::Error),
            Reply::Nil => out.push(Value::Nil),
            Reply::Array(items) => {
                out.push(Value::Array(items.len()));
                flatten(items, out);
            }
            Reply::Scanned(_) => unreachable!("built replies hold no tokens"),
        }
    }
}

fn reply() -> impl Strategy<Value = Reply<'static>> {
    const STRINGS: &[&[u8]] = &[
        b"",
        b"name",
        b"last-delivered-id",
        b"0-0",
        b"a\r\nb",
        b"\xff",
    ];
    let leaf = prop_oneof![
        any::<i64>().prop_map(Reply::Int),
        prop::sample::select(STRINGS).prop_map(Reply::Bytes),
        Just(Reply::Error {
            code: "WRONGTYPE",
            details: "Operation against a key"
        }),
        Just(Reply::Nil),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop::collection::vec(inner, 0..8).prop_map(Reply::Array)
    })
}

/// Replies as a server writes them, then perhaps damaged: a few bytes replaced by ones that
/// matter to RESP (so that most inputs are nearly valid, where the bugs are).
fn bytes_nearly_replies() -> impl Strategy<Value = Vec<u8>> {
    const TELLING: &[u8] = b"\r\n$*:+-0189 ";
    let replies = prop::collection::vec(reply(), 1..4).prop_map(|replies| {
        let mut bytes = Vec::new();
        for r in &replies {
            encode(r, &mut bytes);
        }
        bytes
    });
    let damage = prop::collection::vec(
        (any::<prop::sample::Index>(), prop::sample::select(TELLING)),
        0..3,
    );
    (replies, damage).prop_map(|(mut bytes, damage)| {
        for (at, byte) in damage {
            let at = at.index(bytes.len());
            bytes[at] = byte;
        }
        bytes
    })
}

proptest! {
    /// The replies asked to stay as tokens are the arrays among them; built, they are the
    /// replies built at once; their values, read one at a time (some skipped whole), are
    /// the built arrays', in order; and every other reply is built as it was.
    #[test]
    fn arrays_left_as_tokens_read_as_the_arrays_built(
        replies in prop::collection::vec(reply(), 1..5),
        keep in prop::collection::vec(any::<bool>(), 5),
        skip in prop::collection::vec(any::<bool>(), 8),
    ) {
        let mut bytes = Vec::new();
        for r in &replies {
            encode(r, &mut bytes);
        }
        let (_, tokens) = scan_whole(&bytes);
        let mut built = Vec::new();
        build_replies(&bytes, &tokens, &mut built, |_| false).expect("a scan's tokens");
        let mut kept = Vec::new();
        build_replies(&bytes, &tokens, &mut kept, |n| keep[n]).expect("a scan's tokens");
        prop_assert_eq!(kept.len(), replies.len());
        for (n, (kept, built)) in kept.iter().zip(&built).enumerate() {
            let Reply::Scanned(array) = kept else {
                prop_assert!(!(keep[n] && matches!(built, Reply::Array(_))));
                prop_assert_eq!(kept, built);
                continue;
            };
            let Reply::Array(items) = built else {
                return Err(TestCaseError::fail(format!("{built:?} left as tokens")));
            };
            prop_assert!(keep[n]);
            prop_assert_eq!(&array.build(), &Ok(built.clone()));
            prop_assert_eq!(array.len(), items.len());
            prop_assert_eq!(kept.describe(), built.describe());
            let mut values = array.values();
            for (item, skip) in items.iter().zip(skip.iter().cycle()) {
                if *skip {
                    prop_assert_eq!(values.skip_value(), Some(()));
                    continue;
                }
                let mut expected = Vec::new();
                flatten(std::slice::from_ref(item), &mut expected);
                for value in expected {
                    prop_assert_eq!(values.next_value(), Some(value));
                }
            }
            prop_assert_eq!(values.next_value(), None);
            prop_assert_eq!(values.skip_value(), None);
        }
    }

    /// Every reply reads back as written, and every cut short of its end is incomplete.
    #[test]
    fn replies_read_back_and_cuts_wait_for_more(replies in prop::collection::vec(reply(), 1..5)) {
        let mut bytes = Vec::new();
        for r in &replies {
            encode(r, &mut bytes);
        }
        let mut pos = 0;
        for r in &replies {
            let end = reply_end(&bytes, pos).expect("valid").expect("complete");
            for cut in pos..end {
                prop_assert_eq!(reply_end(&bytes[..cut], pos), Ok(None));
            }
            prop_assert_eq!(&parse(&bytes, pos).expect("parses"), r);
            pos = end;
        }
        prop_assert_eq!(pos, bytes.len());
    }

    /// Fed in pieces of any sizes, the scanner finds what it finds in the whole bytes (the
    /// same ends, the same error), and the parser agrees with both, valid or damaged.
    #[test]
    fn pieces_scan_as_the_whole_and_parse_agrees(
        bytes in bytes_nearly_replies(),
        pieces in prop::collection::vec(1usize..40, 1..6),
    ) {
        prop_assert_eq!(agreement(&bytes, &pieces), Ok(()));
    }

    /// The one-pass read of a short count reads what the general path reads, or leaves the
    /// line to it: never another value, never a line that is not one.
    #[test]
    fn a_short_count_reads_as_a_number(
        line in "-?[0-9]{0,21}(\r\n|\r|\n|x|)",
        tail in prop::collection::vec(any::<u8>(), 0..3),
    ) {
        let mut bytes = line.into_bytes();
        bytes.extend(tail);
        if let Some((n, cr)) = short_count(&bytes, 0) {
            prop_assert_eq!(number(&bytes[..cr]), Ok(n));
            prop_assert_eq!(bytes.get(cr..cr + 2), Some(&b"\r\n"[..]));
        }
    }

    /// The same for any bytes at all.
    #[test]
    fn pieces_of_any_bytes_scan_as_the_whole(
        bytes in prop::collection::vec(any::<u8>(), 0..64),
        pieces in prop::collection::vec(1usize..8, 1..4),
    ) {
        prop_assert_eq!(agreement(&bytes, &pieces), Ok(()));
    }
}

/// Counts read in one pass and counts left to the general path (signed, 19 digits and more,
/// cut short) are read alike, at the edges of both.
#[test]
fn counts_read_the_same_on_both_paths() {
    for (line, value) in [
        (&b":0\r\n"[..], Reply::Int(0)),
        (
            b":999999999999999999\r\n",
            Reply::Int(999_999_999_999_999_999),
        ),
        (
            b":1000000000000000000\r\n",
            Reply::Int(1_000_000_000_000_000_000),
        ),
        (b":9223372036854775807\r\n", Reply::Int(i64::MAX)),
        (b":-5\r\n", Reply::Int(-5)),
        (b"$3\r\nabc\r\n", Reply::Bytes(b"abc")),
        (b"$-1\r\n", Reply::Nil),
        (b"*1\r\n:7\r\n", Reply::Array(vec![Reply::Int(7)])),
    ] {
        assert_eq!(reply_end(line, 0), Ok(Some(line.len())), "{line:?}");
        assert_eq!(parse(line, 0), Ok(value), "{line:?}");
        assert_eq!(agreement(line, &[1, 2, 3]), Ok(()), "{line:?}");
        for cut in 0..line.len() {
            assert_eq!(
                reply_end(&line[..cut], 0),
                Ok(None),
                "{line:?} cut at {cut}"
            );
        }
    }
    for refused in [
        &b":9223372036854775808\r\n"[..],
        b":+5\r\n",
        b":\r\n",
        b":12a\r\n",
        b":12\rx",
        b":12\n",
    ] {
        assert!(reply_end(refused, 0).is_err(), "{refused:?}");
        assert_eq!(agreement(refused, &[1, 2, 3]), Ok(()), "{refused:?}");
    }
}

#[test]
fn server_replies_read_as_the_reader_needs() {
    let groups = b"*1\r\n*4\r\n$4\r\nname\r\n$7\r\nworkers\r\n$7\r\npending\r\n:3\r\n";
    let reply = parse(groups, 0).expect("parses");
    let Reply::Array(items) = &reply else {
        panic!("an array: {reply:?}")
    };
    let fields: Vec<(&str, Option<u64>)> = items[0]
        .map()
        .expect("a map")
        .map(|(k, v)| (k, v.as_u64()))
        .collect();
    assert_eq!(fields, [("name", None), ("pending", Some(3))]);
    assert_eq!(parse(b"+OK\r\n", 0), Ok(Reply::Bytes(b"OK")));
    assert_eq!(parse(b"*-1\r\n", 0), Ok(Reply::Nil));
    assert_eq!(parse(b"$0\r\n\r\n", 0), Ok(Reply::Bytes(b"")));
    assert_eq!(
        parse(b"-NOPERM this user has no permissions\r\n", 0),
        Ok(Reply::Error {
            code: "NOPERM",
            details: "this user has no permissions"
        })
    );
    assert_eq!(
        parse(b":-9223372036854775808\r\n", 0),
        Ok(Reply::Int(i64::MIN))
    );
    // A map is an even array of string fields, nothing else.
    for not_a_map in [
        &b"*1\r\n$4\r\nname\r\n"[..],
        b"*2\r\n:1\r\n:2\r\n",
        b":1\r\n",
    ] {
        assert!(parse(not_a_map, 0).expect("parses").map().is_none());
    }
}

/// Bytes that are not RESP2 as Redis writes it are errors, found by the scan as by the
/// parse: never a reply read another way, never a wait for more.
#[test]
fn malformed_replies_are_errors() {
    let cases: &[&[u8]] = &[
        // A bulk string must be followed by \r\n: not "abc" then `:1`.
        b"$3\r\nabcXY:1\r\n",
        b"$3\r\nab\r\n\r\n",
        b"$0\r\nX\r\n",
        // Lengths below -1.
        b"$-5\r\n",
        b"*-2\r\n",
        b"$-9223372036854775808\r\n",
        // Integers of digits only, within i64.
        b":12x\r\n",
        b":+5\r\n",
        b": 5\r\n",
        b":\r\n",
        b":-\r\n",
        b":9223372036854775808\r\n",
        b"$1.5\r\n",
        b"*0x10\r\n",
        // A number's line ends within 20 characters.
        b":123456789012345678901",
        // CR and LF only as a line's end.
        b"+OK\nfoo\r\n",
        b"+a\rb\r\n",
        b"-ERR a\nb\r\n",
        // RESP2 types only.
        b"?x\r\n",
        b"%1\r\n+a\r\n+b\r\n",
        b"_\r\n",
        b"*2\r\n:1\r\n~0\r\n",
    ];
    for bad in cases {
        let scanned = reply_end(bad, 0);
        assert!(
            matches!(scanned, Err(ProtocolError::Malformed(_))),
            "{:?}: {scanned:?}",
            String::from_utf8_lossy(bad)
        );
        assert!(parse(bad, 0).is_err(), "{:?}", String::from_utf8_lossy(bad));
        assert_eq!(agreement(bad, &[1]), Ok(()));
    }
    // Still waiting is not an error: the CR of a line's end may come alone.
    assert_eq!(reply_end(b"+OK\r", 0), Ok(None));
    assert_eq!(reply_end(b"$3\r\nabc\r", 0), Ok(None));
}

/// A reply that announces more than a reply may take is refused at its header, saying what
/// it announced and the limit, before any byte of it is waited for.
#[test]
fn oversized_replies_are_refused_from_their_header() {
    for (header, announced) in [
        (&b"$9223372036854775807\r\n"[..], "9223372036854775807"),
        (b"$1073741824\r\n", "1073741824"),
        (b"*1\r\n$67108864\r\n", "67108864"),
    ] {
        let Err(ProtocolError::OverLimit(why)) = reply_end(header, 0) else {
            panic!("{header:?}: {:?}", reply_end(header, 0));
        };
        assert!(why.contains(announced) && why.contains("64 MiB"), "{why}");
        assert!(matches!(parse(header, 0), Err(ProtocolError::OverLimit(_))));
    }
    let Err(ProtocolError::OverLimit(why)) = reply_end(b"*4000000000000\r\n", 0) else {
        panic!("a huge array must be refused");
    };
    assert!(
        why.contains("4000000000000") && why.contains("1048576"),
        "{why}"
    );
    // Nested arrays count together.
    assert_eq!(reply_end(b"*1\r\n*600000\r\n", 0), Ok(None));
    assert!(matches!(
        reply_end(b"*1\r\n*600000\r\n*600000\r\n", 0),
        Err(ProtocolError::OverLimit(_))
    ));
}

/// The limits are exact: a reply of exactly [`MAX_REPLY_BYTES`] and [`MAX_REPLY_VALUES`] is
/// read (a 10 MB record fits with room to spare), one byte or one value more is not.
#[test]
fn the_limits_are_exact() {
    let header_of = |len: usize| format!("${len}\r\n");
    let fits = MAX_REPLY_BYTES - header_of(MAX_REPLY_BYTES).len() - 2;
    assert_eq!(reply_end(header_of(fits).as_bytes(), 0), Ok(None));
    assert!(matches!(
        reply_end(header_of(fits + 1).as_bytes(), 0),
        Err(ProtocolError::OverLimit(_))
    ));
    let record = format!("${}\r\n{}\r\n", 10_000_000, "x".repeat(10_000_000));
    assert_eq!(reply_end(record.as_bytes(), 0), Ok(Some(record.len())));
    // The reply itself is a value: an array may hold one less.
    let most = format!("*{}\r\n", MAX_REPLY_VALUES - 1);
    assert_eq!(reply_end(most.as_bytes(), 0), Ok(None));
    let more = format!("*{MAX_REPLY_VALUES}\r\n");
    assert!(matches!(
        reply_end(more.as_bytes(), 0),
        Err(ProtocolError::OverLimit(_))
    ));
    // A line cannot run past the limit either: refused once the buffer passes it.
    let mut long_line = vec![b'a'; MAX_REPLY_BYTES + 1];
    long_line[0] = b'+';
    assert!(matches!(
        reply_end(&long_line, 0),
        Err(ProtocolError::OverLimit(_))
    ));
    assert!(matches!(
        reply_end(&long_line[..MAX_REPLY_BYTES - 2], 0),
        Ok(None)
    ));
}

/// Arrays nested deeper than [`MAX_DEPTH`] are refused by the scan as by the parse.
#[test]
fn deep_nesting_is_refused() {
    let at_limit = "*1\r\n".repeat(MAX_DEPTH) + ":1\r\n";
    assert!(reply_end(at_limit.as_bytes(), 0).expect("read").is_some());
    assert!(parse(at_limit.as_bytes(), 0).is_ok());
    let deeper = "*1\r\n".repeat(MAX_DEPTH + 1) + ":1\r\n";
    assert!(matches!(
        reply_end(deeper.as_bytes(), 0),
        Err(ProtocolError::OverLimit(_))
    ));
    assert!(matches!(
        parse(deeper.as_bytes(), 0),
        Err(ProtocolError::OverLimit(_))
    ));
}

/// Scanning is linear: a reply arriving in many pieces is not rescanned from its start with
/// each piece. Counted in bytes looked at, not timed: a 10 MB reply of 100,000 strings in
/// 4 KiB pieces, and a 1 MB line one byte at a time, are each looked at about once.
#[test]
fn scanning_in_pieces_looks_at_each_byte_about_once() {
    let mut groups = format!("*{}\r\n", 100_000).into_bytes();
    for i in 0..100_000 {
        let value = format!("{i:0>96}");
        groups.extend(format!("${}\r\n{value}\r\n", value.len()).bytes());
    }
    assert!(groups.len() > 10_000_000);
    let mut line = b"+".to_vec();
    line.extend(std::iter::repeat_n(b'x', 1_000_000));
    line.extend(b"\r\n");
    for (reply, piece) in [(&groups, 4096), (&line, 1)] {
        let mut scanner = Scanner::new(0);
        let mut have = 0;
        let end = loop {
            let found = scanner.scan(&reply[..have]).expect("valid");
            // Checked as the pieces come, so that a scan that rescans fails at once
            // rather than running for hours.
            assert!(
                scanner.examined() <= 2 * have,
                "looked at {} bytes to scan {have} in pieces of {piece}",
                scanner.examined()
            );
            match found {
                Some(end) => break end,
                None => have = (have + piece).min(reply.len()),
            }
        };
        assert_eq!(end, reply.len());
    }
}

#[test]
fn replies_are_described_safely() {
    assert_eq!(Reply::Int(-5).describe(), "the integer -5");
    assert_eq!(
        Reply::Bytes(b"a\nerror: forged").describe(),
        "the string \"a\\nerror: forged\""
    );
    assert_eq!(
        Reply::Error {
            code: "NOPERM",
            details: "no \u{1b}[2K"
        }
        .describe(),
        "the error NOPERM no \\u{1b}[2K"
    );
    assert_eq!(size_text(MAX_REPLY_BYTES), "64 MiB");
}
