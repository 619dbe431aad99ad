//! A small JSON reader for the hot paths (the common unified request, the
//! common Anthropic answer, usage reports, a request's model): a cursor over
//! the body's bytes, which checks UTF-8 only where it can be other than
//! ASCII (inside strings), and the byte search it and the JSON writers use.
//! Depends on nothing in the crate.
//!
//! It reads what it knows and gives up (`None`) on anything else; its
//! callers then read the same bytes with serde, which stays the judge of
//! every error. So it must never accept what serde_json refuses, and must
//! read what it accepts exactly as serde_json does: where the two could
//! differ (numbers serde rounds differently, lone surrogates, very deep
//! nesting) it gives up instead.

use std::borrow::Cow;

/// Deeper than this gives up (serde_json refuses past 128).
const MAX_DEPTH: u32 = 100;

/// Powers of ten that f64 holds exactly.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// A cursor over JSON text.
pub struct Scan<'a> {
    b: &'a [u8],
    i: usize,
    depth: u32,
}

impl<'a> Scan<'a> {
    pub fn new(b: &'a [u8]) -> Scan<'a> {
        Scan { b, i: 0, depth: 0 }
    }

    #[inline]
    fn bytes(&self) -> &'a [u8] {
        self.b
    }

    /// The text of `b[from..to]`, a range `string` (or `raw_string`) has
    /// found to be all ASCII or checked as UTF-8.
    #[inline]
    fn text(&self, from: usize, to: usize) -> &'a str {
        let run = &self.b[from..to];
        debug_assert!(std::str::from_utf8(run).is_ok());
        // SAFETY: `string` and `raw_string` pass only ranges that
        // `walk_string` walked: runs `plain_run::<true>` found to hold no
        // byte of 0x80 or above, ASCII escapes, and ranges it checked with
        // `str::from_utf8`; all are UTF-8.
        unsafe { std::str::from_utf8_unchecked(run) }
    }

    /// The next byte after whitespace (JSON's four), not consumed.
    #[inline]
    pub fn peek(&mut self) -> Option<u8> {
        let b = self.bytes();
        while let Some(&c) = b.get(self.i) {
            if !matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(c);
            }
            self.i += 1;
        }
        None
    }

    #[inline]
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn word(&mut self, w: &[u8]) -> bool {
        self.peek();
        if self.bytes()[self.i..].starts_with(w) {
            self.i += w.len();
            true
        } else {
            false
        }
    }

    /// Only whitespace is left.
    pub fn end(mut self) -> Option<()> {
        (self.peek().is_none()).then_some(())
    }

    /// `null`, consumed; `false` (nothing consumed) for any other value.
    pub fn null(&mut self) -> bool {
        self.word(b"null")
    }

    /// `f` on the value, or `None` for `null` (as serde reads `Option<T>`).
    pub fn opt<T>(&mut self, f: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.null() {
            Some(None)
        } else {
            f(self).map(Some)
        }
    }

    pub fn bool(&mut self) -> Option<bool> {
        if self.word(b"true") {
            Some(true)
        } else if self.word(b"false") {
            Some(false)
        } else {
            None
        }
    }

    /// A string, borrowed when it holds no escape.
    pub fn string(&mut self) -> Option<Cow<'a, str>> {
        if !self.eat(b'"') {
            return None;
        }
        // The common string, plain ASCII to its quote, in a few
        // instructions; escapes and other text in `string_rest`.
        let b = self.bytes();
        let start = self.i;
        let at = start + plain_run::<true>(&b[start..]);
        if b.get(at) == Some(&b'"') {
            self.i = at + 1;
            return Some(Cow::Borrowed(self.text(start, at)));
        }
        self.string_rest(start)
    }

    /// The string that opens at `start` (after its quote), escapes and
    /// text past ASCII included.
    #[inline(never)]
    fn string_rest(&mut self, start: usize) -> Option<Cow<'a, str>> {
        let b = self.bytes();
        let mut owned: Option<String> = None;
        let (last, end) = self.walk_string(start, |run, c, at| {
            // At the first escape, the string's whole length bounds what it
            // decodes to: one allocation, where growing would be several.
            let o =
                owned.get_or_insert_with(|| String::with_capacity(at - start + string_len(b, at)));
            o.push_str(run);
            o.push(c);
        })?;
        self.i = end + 1;
        let run = self.text(last, end);
        Some(match owned {
            None => Cow::Borrowed(run),
            Some(mut o) => {
                o.push_str(run);
                Cow::Owned(o)
            }
        })
    }

    /// Walks the string that opens at `start` (after its quote) to its
    /// closing quote, checking it as serde_json does: each escape's
    /// character goes to `escaped` with the text since the previous one and
    /// the escape's position. Returns where the text after the last escape
    /// starts, and where the closing quote is.
    #[inline(always)]
    fn walk_string(
        &self,
        start: usize,
        mut escaped: impl FnMut(&'a str, char, usize),
    ) -> Option<(usize, usize)> {
        let b = self.bytes();
        let mut run = start;
        // Bytes before `checked` are checked as UTF-8; beyond it only ASCII
        // runs are taken, and the first other byte checks the rest.
        let mut checked = start;
        loop {
            // The first `"`, `\` or control character (which serde_json
            // refuses raw in a string), or a byte that is not ASCII.
            let at = run
                + if run < checked {
                    plain_run::<false>(&b[run..])
                } else {
                    plain_run::<true>(&b[run..])
                };
            match *b.get(at)? {
                b'"' => return Some((run, at)),
                b'\\' => {
                    let (c, end) = self.unescape(at + 1)?;
                    escaped(self.text(run, at), c, at);
                    run = end;
                    checked = checked.max(end);
                }
                c if c >= 0x80 => {
                    // Not ASCII: the rest of the string is checked at once
                    // (escapes are ASCII), then read as above.
                    let end = at + string_len(b, at);
                    std::str::from_utf8(&b[at..end]).ok()?;
                    checked = end;
                }
                _ => return None,
            }
        }
    }

    /// The character the escape after the `\` at `i - 1` stands for, and
    /// where the escape ends.
    fn unescape(&self, i: usize) -> Option<(char, usize)> {
        let b = self.bytes();
        let c = match *b.get(i)? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = self.hex4(i + 1)?;
                return match hi {
                    0xD800..=0xDBFF => {
                        // Only a whole pair; a lone half gives up.
                        if b.get(i + 5..i + 7)? != b"\\u" {
                            return None;
                        }
                        let lo = self.hex4(i + 7)?;
                        if !(0xDC00..=0xDFFF).contains(&lo) {
                            return None;
                        }
                        let cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                        Some((char::from_u32(cp)?, i + 11))
                    }
                    0xDC00..=0xDFFF => None,
                    _ => Some((char::from_u32(hi)?, i + 5)),
                };
            }
            _ => return None,
        };
        Some((c, i + 1))
    }

    /// A string checked exactly as [`Scan::string`] checks it, and dropped
    /// without being decoded (no allocation for its escapes).
    fn skip_string(&mut self) -> Option<()> {
        if !self.eat(b'"') {
            return None;
        }
        let (_, end) = self.walk_string(self.i, |_, _, _| {})?;
        self.i = end + 1;
        Some(())
    }

    /// A string's text as written (escapes kept, quotes dropped), checked
    /// exactly as [`Scan::string`] checks it but not decoded: for a text
    /// that goes into JSON again as it is.
    pub fn raw_string(&mut self) -> Option<&'a str> {
        if !self.eat(b'"') {
            return None;
        }
        let start = self.i;
        let (_, end) = self.walk_string(start, |_, _, _| {})?;
        self.i = end + 1;
        Some(self.text(start, end))
    }

    fn hex4(&self, i: usize) -> Option<u32> {
        let mut n = 0;
        for &c in self.bytes().get(i..i + 4)? {
            n = n * 16 + (c as char).to_digit(16)?;
        }
        Some(n)
    }

    /// The digits at the cursor (JSON's rule: no leading zero), as a count.
    fn digits(&mut self) -> Option<(u64, usize)> {
        let b = self.bytes();
        let start = self.i;
        let mut n: u64 = 0;
        while let Some(&c) = b.get(self.i) {
            if !c.is_ascii_digit() {
                break;
            }
            n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
            self.i += 1;
        }
        let count = self.i - start;
        if count == 0 || (count > 1 && b[start] == b'0') {
            return None;
        }
        Some((n, count))
    }

    /// A digit is next (a range test: `next_is` with the ten digits costs
    /// a comparison per digit per byte, and numbers are most of what the
    /// usage scan skips).
    #[inline]
    fn next_is_digit(&self) -> bool {
        self.bytes().get(self.i).is_some_and(u8::is_ascii_digit)
    }

    fn next_is(&self, set: &[u8]) -> bool {
        self.bytes().get(self.i).is_some_and(|c| set.contains(c))
    }

    /// An integer read as `u64` (serde refuses fractions and negatives
    /// there; anything else gives up).
    pub fn u64(&mut self) -> Option<u64> {
        self.peek();
        let (n, _) = self.digits()?;
        if self.next_is(b".eE") {
            return None;
        }
        Some(n)
    }

    /// A number read as `f64`, where serde_json's result is exact-rounded:
    /// up to 15 significant digits, powers of ten up to 22.
    pub fn f64(&mut self) -> Option<f64> {
        self.peek();
        let negative = self.eat_raw(b'-');
        let (int, int_digits) = self.digits()?;
        let (mut sig, mut digits, mut exp) = (int, int_digits, 0i64);
        if self.eat_raw(b'.') {
            let start = self.i;
            while self.next_is_digit() {
                sig = sig
                    .checked_mul(10)?
                    .checked_add(u64::from(self.bytes()[self.i] - b'0'))?;
                self.i += 1;
            }
            let n = self.i - start;
            if n == 0 {
                return None;
            }
            digits += n;
            exp -= n as i64;
        }
        if self.eat_raw(b'e') || self.eat_raw(b'E') {
            let neg_exp = self.eat_raw(b'-');
            if !neg_exp {
                self.eat_raw(b'+');
            }
            let start = self.i;
            let mut e: i64 = 0;
            while self.next_is_digit() {
                e = e * 10 + i64::from(self.bytes()[self.i] - b'0');
                self.i += 1;
                if e > 1000 {
                    return None;
                }
            }
            if self.i == start {
                return None;
            }
            exp += if neg_exp { -e } else { e };
        }
        if digits > 15 {
            return None;
        }
        let pow = *POW10.get(exp.unsigned_abs() as usize)?;
        let f = if exp >= 0 {
            sig as f64 * pow
        } else {
            sig as f64 / pow
        };
        // serde_json gives `-0` (an integer) and `-0.0` alike as -0.0.
        Some(if negative { -f } else { f })
    }

    #[inline]
    fn eat_raw(&mut self, c: u8) -> bool {
        if self.bytes().get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// An object: `f` on each member (its key decoded), which reads the
    /// value. Duplicate keys are `f`'s to notice.
    pub fn object(&mut self, mut f: impl FnMut(&mut Self, &str) -> Option<()>) -> Option<()> {
        if !self.eat(b'{') {
            return None;
        }
        self.enter()?;
        if !self.eat(b'}') {
            loop {
                let key = self.string()?;
                if !self.eat(b':') {
                    return None;
                }
                f(self, &key)?;
                if self.eat(b'}') {
                    break;
                }
                if !self.eat(b',') {
                    return None;
                }
            }
        }
        self.depth -= 1;
        Some(())
    }

    /// An array: `f` on each element.
    pub fn array(&mut self, mut f: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        if !self.eat(b'[') {
            return None;
        }
        self.enter()?;
        if !self.eat(b']') {
            loop {
                f(self)?;
                if self.eat(b']') {
                    break;
                }
                if !self.eat(b',') {
                    return None;
                }
            }
        }
        self.depth -= 1;
        Some(())
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    /// Any value, checked as serde_json checks what it ignores (at least as
    /// strictly) and dropped.
    pub fn skip(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_string(),
            b'{' => self.object(|s, _| s.skip()),
            b'[' => self.array(|s| s.skip()),
            b't' | b'f' => self.bool().map(drop),
            b'n' => self.null().then_some(()),
            _ => self.number(),
        }
    }

    /// A number's syntax, checked and skipped.
    fn number(&mut self) -> Option<()> {
        self.eat_raw(b'-');
        let start = self.i;
        let b = self.bytes();
        while self.next_is_digit() {
            self.i += 1;
        }
        let n = self.i - start;
        if n == 0 || (n > 1 && b[start] == b'0') {
            return None;
        }
        if self.eat_raw(b'.') {
            let start = self.i;
            while self.next_is_digit() {
                self.i += 1;
            }
            if self.i == start {
                return None;
            }
        }
        if self.eat_raw(b'e') || self.eat_raw(b'E') {
            if !self.eat_raw(b'-') {
                self.eat_raw(b'+');
            }
            let start = self.i;
            while self.next_is_digit() {
                self.i += 1;
            }
            if self.i == start {
                return None;
            }
        }
        Some(())
    }
}

/// Bytes from `at` (inside a string) to its closing quote, or to the end.
fn string_len(b: &[u8], at: usize) -> usize {
    let mut i = at;
    loop {
        i += plain_run::<false>(&b[i..]);
        match b.get(i) {
            Some(b'\\') => i = (i + 2).min(b.len()),
            Some(b'"') | None => return i - at,
            // A control character: the read gives up anyway.
            Some(_) => return i - at,
        }
    }
}

/// Marks `bit` seen; `None` if it was (serde refuses a duplicate field).
#[inline]
pub fn once(seen: &mut u32, bit: u32) -> Option<()> {
    let m = 1 << bit;
    if *seen & m != 0 {
        return None;
    }
    *seen |= m;
    Some(())
}

/// How many bytes open `b` that JSON takes as they are: none below 0x20,
/// no `"`, no `\`. Sixteen at a time with SSE2 (part of every x86_64),
/// eight at a time elsewhere, then one by one. (The scanner finds the end
/// of a string it reads with it too; with `ASCII` it also stops at the
/// first byte of 0x80 and above, which it checks as UTF-8.)
#[inline]
pub(crate) fn plain_run<const ASCII: bool>(b: &[u8]) -> usize {
    // Most strings (keys, ids, names) end within 16 bytes: that block is
    // tested here, inline, before any call.
    #[cfg(target_arch = "x86_64")]
    if b.len() >= 16 {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8,
            _mm_or_si128, _mm_set1_epi8,
        };
        // SAFETY: SSE2 is baseline on x86_64; the 16-byte load lies within `b`.
        let mask = unsafe {
            let v = _mm_loadu_si128(b.as_ptr() as *const __m128i);
            let hit = _mm_or_si128(
                _mm_or_si128(
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8)),
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8)),
                ),
                _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v),
            );
            _mm_movemask_epi8(if ASCII { _mm_or_si128(hit, v) } else { hit })
        };
        if mask != 0 {
            return mask.trailing_zeros() as usize;
        }
        return 16 + plain_run_long::<ASCII>(&b[16..]);
    }
    plain_run_long::<ASCII>(b)
}

/// `plain_run` past its first block.
#[inline(never)]
fn plain_run_long<const ASCII: bool>(b: &[u8]) -> usize {
    let mut i = 0;
    #[cfg(target_arch = "x86_64")]
    {
        // Texts (a message, an answer) go 32 bytes at a time where the CPU
        // has AVX2 (std caches the check); short strings skip the check.
        if b.len() >= 64 && std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present (checked just above).
            let (at, hit) = unsafe { plain_run_avx2::<ASCII>(b) };
            if hit {
                return at;
            }
            i = at;
        }
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8,
            _mm_or_si128, _mm_set1_epi8,
        };
        // SAFETY: SSE2 is baseline on x86_64; each unaligned 16-byte load
        // lies within `b` (i + 16 <= len).
        unsafe {
            let quote = _mm_set1_epi8(b'"' as i8);
            let backslash = _mm_set1_epi8(b'\\' as i8);
            let control = _mm_set1_epi8(0x1f);
            while i + 16 <= b.len() {
                let v = _mm_loadu_si128(b.as_ptr().add(i) as *const __m128i);
                // min(v, 0x1f) == v exactly where v <= 0x1f (unsigned).
                let hit = _mm_or_si128(
                    _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                    _mm_cmpeq_epi8(_mm_min_epu8(v, control), v),
                );
                let mask = _mm_movemask_epi8(if ASCII { _mm_or_si128(hit, v) } else { hit });
                if mask != 0 {
                    return i + mask.trailing_zeros() as usize;
                }
                i += 16;
            }
        }
    }
    while i + 8 <= b.len() {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[i..i + 8]);
        let w = u64::from_le_bytes(w);
        if needs_escape(w) || (ASCII && w & 0x8080_8080_8080_8080 != 0) {
            break;
        }
        i += 8;
    }
    while i < b.len() && !matches!(b[i], 0..=0x1f | b'"' | b'\\') && !(ASCII && b[i] >= 0x80) {
        i += 1;
    }
    i
}

/// `plain_run` 32 bytes at a time: the hit's index (`true`), or how many
/// whole 32-byte blocks hold none (`false`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn plain_run_avx2<const ASCII: bool>(b: &[u8]) -> (usize, bool) {
    use std::arch::x86_64::{
        __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_min_epu8, _mm256_movemask_epi8,
        _mm256_or_si256, _mm256_set1_epi8,
    };
    let quote = _mm256_set1_epi8(b'"' as i8);
    let backslash = _mm256_set1_epi8(b'\\' as i8);
    let control = _mm256_set1_epi8(0x1f);
    let mut i = 0;
    while i + 32 <= b.len() {
        // SAFETY: the unaligned 32-byte load lies within `b` (i + 32 <= len).
        let v = unsafe { _mm256_loadu_si256(b.as_ptr().add(i) as *const __m256i) };
        let hit = _mm256_or_si256(
            _mm256_or_si256(_mm256_cmpeq_epi8(v, quote), _mm256_cmpeq_epi8(v, backslash)),
            _mm256_cmpeq_epi8(_mm256_min_epu8(v, control), v),
        );
        let mask = _mm256_movemask_epi8(if ASCII { _mm256_or_si256(hit, v) } else { hit });
        if mask != 0 {
            return (i + mask.trailing_zeros() as usize, true);
        }
        i += 32;
    }
    (i, false)
}

/// Whether any of the eight bytes in `w` is below 0x20, `"` or `\`
/// (exact: the classic has-zero-byte and has-less-than tests, whose
/// answer is right for the word even where a lane's bit is not).
#[inline]
fn needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    (below_space | zero(w ^ (ONES * b'"' as u64)) | zero(w ^ (ONES * b'\\' as u64))) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// serde_json reads `v` as a value it ignores.
    fn ignored(v: &str) -> bool {
        serde_json::from_str::<serde::de::IgnoredAny>(v).is_ok()
    }

    fn string(s: &str) -> Option<String> {
        Scan::new(s.as_bytes()).string().map(Cow::into_owned)
    }

    #[test]
    fn strings_read_as_serde_reads_them() {
        for s in [
            r#""plain""#,
            r#""""#,
            r#""esc \" \\ \/ \b \f \n \r \t end""#,
            r#""\u00e9\u00E9 \u2713 \ud83d\ude00 \u0000""#,
            r#""é ✓ 😀 raw""#,
            r#""\ud83d""#,
            r#""\ude00""#,
            r#""\ud83d\u0041""#,
            r#""\ud83dx""#,
            r#""\u12""#,
            r#""\u12g4""#,
            r#""\x""#,
            "\"tab\tinside\"",
            "\"nl\ninside\"",
            r#""unterminated"#,
            r#""ends in \"#,
        ] {
            let serde = serde_json::from_str::<String>(s).ok();
            // What it reads, it reads as serde does; it may give up on
            // what serde reads only where the two could differ.
            match string(s) {
                Some(mine) => assert_eq!(Some(mine), serde, "{s}"),
                None => assert!(serde.is_none() || s.contains("\\ud83d"), "gave up on {s}"),
            }
        }
        assert!(matches!(
            Scan::new(br#""no escape""#).string(),
            Some(Cow::Borrowed(_))
        ));
    }

    #[test]
    fn numbers_read_as_serde_reads_them() {
        for n in [
            "0",
            "1",
            "-0",
            "-1",
            "0.5",
            "-0.0",
            "1.50",
            "256",
            "1e2",
            "1E+2",
            "1.5e-3",
            "2.5E1",
            "0.1",
            "0.7",
            "3.14159",
            "123456789012345",
            "1234567890123456789",
            "01",
            "1.",
            ".5",
            "-",
            "1e",
            "1e+",
            "+1",
            "1e400",
            "1e-400",
            "0.30000000000000004",
            "18446744073709551615",
            "18446744073709551616",
            "9.99",
            "1e22",
            "1e23",
        ] {
            let serde_f = serde_json::from_str::<f64>(n).ok();
            let serde_u = serde_json::from_str::<u64>(n).ok();
            let mut s = Scan::new(n.as_bytes());
            if let Some(f) = s.f64() {
                if s.end().is_some() {
                    assert_eq!(Some(f.to_bits()), serde_f.map(f64::to_bits), "{n}");
                }
            }
            let mut s = Scan::new(n.as_bytes());
            if let Some(u) = s.u64() {
                if s.end().is_some() {
                    assert_eq!(Some(u), serde_u, "{n}");
                }
            }
            // Skipping checks the syntax as serde does what it ignores.
            let mut s = Scan::new(n.as_bytes());
            let skipped = s.skip().is_some() && s.end().is_some();
            assert_eq!(skipped, ignored(n), "{n}");
        }
    }

    #[test]
    fn skip_checks_what_it_drops() {
        for v in [
            r#"{"a":[1,2,{"b":null}],"c":"d","e":true,"f":false}"#,
            r#"{"a":1,}"#,
            r#"[1,]"#,
            r#"{"a" 1}"#,
            r#"{a:1}"#,
            r#"[tru]"#,
            r#"[nul]"#,
            " [ 1 , 2 ] ",
            "[]",
            "{}",
            r#"{"a":"\u00"}"#,
        ] {
            let mut s = Scan::new(v.as_bytes());
            let mine = s.skip().is_some() && s.end().is_some();
            assert_eq!(mine, ignored(v), "{v}");
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(Scan::new(deep.as_bytes()).skip().is_none());
    }
}
