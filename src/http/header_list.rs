//! `HeaderList`: a response's headers in the order received, every name and
//! value in one buffer. A response carries a dozen or more headers, and as
//! `(String, String)` pairs each cost two allocations on the way in and two
//! frees on the way out; here a whole list costs two. Each name and value
//! is followed by a NUL, so C can borrow them in place.

use std::fmt;

/// Headers in order, repeated names kept (each value counts).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HeaderList {
    /// `name\0value\0` for each header, back to back.
    text: String,
    spans: Vec<Span>,
}

/// Where one header lies in `text`: its name from `name` to the NUL at
/// `name_end`, its value from there to the NUL at `value_end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    name: usize,
    name_end: usize,
    value_end: usize,
}

impl Span {
    fn shifted_back(self, by: usize) -> Span {
        Span {
            name: self.name - by,
            name_end: self.name_end - by,
            value_end: self.value_end - by,
        }
    }
}

impl HeaderList {
    pub fn new() -> HeaderList {
        HeaderList::default()
    }

    /// Room for `count` headers of `bytes` bytes of names and values.
    pub fn with_capacity(count: usize, bytes: usize) -> HeaderList {
        HeaderList {
            text: String::with_capacity(bytes + 2 * count),
            spans: Vec::with_capacity(count),
        }
    }

    /// Appends a header. A NUL (which HTTP forbids) is kept as a space, so
    /// every name and value stays one C string.
    pub fn push(&mut self, name: &str, value: &str) {
        self.text.reserve(name.len() + value.len() + 2);
        let name_at = self.text.len();
        let name_end = self.put(name);
        let value_end = self.put(value);
        self.spans.push(Span {
            name: name_at,
            name_end,
            value_end,
        });
    }

    /// Appends `s` and its NUL; returns where the NUL is.
    fn put(&mut self, s: &str) -> usize {
        if s.as_bytes().contains(&0) {
            self.text.push_str(&s.replace('\0', " "));
        } else {
            self.text.push_str(s);
        }
        self.text.push('\0');
        self.text.len() - 1
    }

    /// Bytes held: every name and value, and a NUL after each.
    pub fn byte_len(&self) -> usize {
        self.text.len()
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The `i`-th name and value, each with its closing NUL.
    pub fn with_nul(&self, i: usize) -> Option<(&str, &str)> {
        let s = *self.spans.get(i)?;
        Some((
            self.slice(s.name, s.name_end + 1),
            self.slice(s.name_end + 1, s.value_end + 1),
        ))
    }

    /// The `i`-th name and value.
    #[inline]
    pub fn at(&self, i: usize) -> Option<(&str, &str)> {
        let s = *self.spans.get(i)?;
        Some((
            self.slice(s.name, s.name_end),
            self.slice(s.name_end + 1, s.value_end),
        ))
    }

    /// `text[from..to]` for the ends of a span: each is the start of
    /// `text`, a NUL or the byte after one, so a character boundary.
    #[inline]
    fn slice(&self, from: usize, to: usize) -> &str {
        debug_assert!(from <= to && to <= self.text.len());
        debug_assert!(self.text.is_char_boundary(from) && self.text.is_char_boundary(to));
        // SAFETY: `push` records only positions within `text` (from <= to)
        // that lie next to an ASCII NUL it wrote, or at 0; `retain` moves
        // them with the bytes they point at.
        unsafe { self.text.get_unchecked(from..to) }
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter {
            list: self,
            next: 0,
        }
    }

    /// The first value of header `name`, matched case-insensitively.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Keeps the headers `keep` says yes to, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        // From the end, so the spans of the headers not yet visited hold.
        for i in (0..self.len()).rev() {
            let Some((name, value)) = self.at(i) else {
                continue;
            };
            if keep(name, value) {
                continue;
            }
            let gone = self.spans.remove(i);
            let (from, to) = (gone.name, gone.value_end + 1);
            self.text.replace_range(from..to, "");
            for s in &mut self.spans[i..] {
                *s = s.shifted_back(to - from);
            }
        }
    }
}

/// The headers of a [`HeaderList`], in order.
#[derive(Clone)]
pub struct Iter<'a> {
    list: &'a HeaderList,
    next: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a str);

    #[inline]
    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        let header = self.list.at(self.next)?;
        self.next += 1;
        Some(header)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.list.len().saturating_sub(self.next);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a HeaderList {
    type Item = (&'a str, &'a str);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl<N: AsRef<str>, V: AsRef<str>> Extend<(N, V)> for HeaderList {
    fn extend<I: IntoIterator<Item = (N, V)>>(&mut self, headers: I) {
        for (n, v) in headers {
            self.push(n.as_ref(), v.as_ref());
        }
    }
}

impl<N: AsRef<str>, V: AsRef<str>> FromIterator<(N, V)> for HeaderList {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(headers: I) -> HeaderList {
        let mut list = HeaderList::new();
        list.extend(headers);
        list
    }
}

impl fmt::Debug for HeaderList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(h: &HeaderList) -> Vec<(&str, &str)> {
        h.iter().collect()
    }

    #[test]
    fn keeps_order_repeats_and_empty_values() {
        let mut h = HeaderList::with_capacity(2, 16);
        h.push("Content-Type", "application/json");
        h.push("x-empty", "");
        h.push("set-cookie", "1");
        h.push("set-cookie", "2");
        assert_eq!(h.len(), 4);
        assert_eq!(
            pairs(&h),
            [
                ("Content-Type", "application/json"),
                ("x-empty", ""),
                ("set-cookie", "1"),
                ("set-cookie", "2"),
            ]
        );
        assert_eq!(h.get("content-type"), Some("application/json"));
        assert_eq!(h.get("SET-COOKIE"), Some("1"));
        assert_eq!(h.get("x-empty"), Some(""));
        assert_eq!(h.get("absent"), None);
        assert_eq!(h.at(4), None);
        assert_eq!(h.with_nul(1), Some(("x-empty\0", "\0")));
        assert_eq!(format!("{h:?}").matches("set-cookie").count(), 2);
    }

    #[test]
    fn a_nul_is_stored_as_a_space() {
        let h: HeaderList = [("x-\0n", "a\0b")].into_iter().collect();
        assert_eq!(pairs(&h), [("x- n", "a b")]);
        assert_eq!(h.with_nul(0), Some(("x- n\0", "a b\0")));
    }

    #[test]
    fn retain_removes_anywhere_and_the_rest_still_reads() {
        let mut h: HeaderList = [("a", "1"), ("b", "22"), ("c", "333"), ("b", "4"), ("d", "")]
            .into_iter()
            .collect();
        h.retain(|n, _| n != "b");
        assert_eq!(pairs(&h), [("a", "1"), ("c", "333"), ("d", "")]);
        h.push("e", "5");
        h.retain(|n, v| n != "a" && !v.is_empty());
        assert_eq!(pairs(&h), [("c", "333"), ("e", "5")]);
        h.retain(|_, _| false);
        assert!(h.is_empty());
        assert_eq!(h, HeaderList::new());
    }

    #[test]
    fn equal_lists_compare_equal() {
        let a: HeaderList = [("a", "1")].into_iter().collect();
        let mut b = HeaderList::new();
        b.push("a", "1");
        assert_eq!(a, b);
        b.push("b", "2");
        assert_ne!(a, b);
    }
}
