//! Numbers written in decimal without the formatting machinery: commands, `status`'s report
//! and the desired state's digest write them by the hundred thousand.

/// `n`'s decimal digits at the end of `text` (one byte left free for a sign); returns where
/// they start.
pub fn decimal(mut n: u64, text: &mut [u8; 21]) -> usize {
    let mut at = text.len();
    loop {
        at -= 1;
        text[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return at;
        }
    }
}

/// `n` in decimal, appended to `out`.
pub fn push_decimal(out: &mut String, n: u64) {
    let mut text = [0u8; 21];
    let at = decimal(n, &mut text);
    out.push_str(std::str::from_utf8(text.get(at..).unwrap_or_default()).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::push_decimal;

    proptest::proptest! {
        #[test]
        fn numbers_are_written_as_display_writes_them(n in proptest::num::u64::ANY) {
            let mut out = String::from("x");
            push_decimal(&mut out, n);
            proptest::prop_assert_eq!(out, format!("x{n}"));
        }
    }
}
