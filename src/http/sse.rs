//! An incremental parser for `text/event-stream`, following the WHATWG HTML
//! rules ("Server-sent events", parsing an event stream).
//!
//! Bytes arrive in arbitrary pieces; any split gives the same events. A line
//! may end in LF, CRLF or CR; a leading BOM is dropped; `:` starts a comment;
//! `event`, `data`, `id` and `retry` are the fields; an event is dispatched
//! only at its blank line, and an unterminated last event is dropped. The
//! last event id persists from event to event, as the spec says.
//!
//! Memory is bounded: the parser holds at most the current event (and the
//! current partial line), and fails once that exceeds `max_event_bytes`.

use super::text;
use std::borrow::Cow;

/// One dispatched event. Borrowed from the parser until the next `feed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent<'a> {
    /// The `event` field, or "message" when the event named none.
    pub event: Cow<'a, str>,
    /// The `data` lines joined with '\n'.
    pub data: Cow<'a, str>,
    /// The last event id seen on the stream (empty if none yet).
    pub id: Cow<'a, str>,
}

/// The current event outgrew the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTooLarge {
    pub limit: usize,
}

/// Default cap on one event: large enough for any real completion chunk.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 8 * 1024 * 1024;

#[derive(Debug)]
pub struct SseParser {
    max_event_bytes: usize,
    /// Bytes of a line not yet terminated.
    partial: Vec<u8>,
    /// The previous piece ended in CR: a leading LF now belongs to it.
    after_cr: bool,
    /// Still at the very start of the stream, where a BOM may be.
    at_start: bool,
    event_type: Vec<u8>,
    data: Vec<u8>,
    last_id: Vec<u8>,
    /// `retry` field, in ms (kept for completeness; aigw does not reconnect).
    retry_ms: Option<u64>,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

impl SseParser {
    pub fn new(max_event_bytes: usize) -> SseParser {
        SseParser {
            max_event_bytes,
            partial: Vec::new(),
            after_cr: false,
            at_start: true,
            event_type: Vec::new(),
            data: Vec::new(),
            last_id: Vec::new(),
            retry_ms: None,
        }
    }

    /// The last `retry` value the stream sent, in ms.
    pub fn retry_ms(&self) -> Option<u64> {
        self.retry_ms
    }

    /// Feeds the next piece of the stream, calling `on_event` for each event
    /// it completes. `on_event` returns false to stop early; then `feed`
    /// returns `Ok(false)` and the rest of this piece is not parsed.
    pub fn feed(
        &mut self,
        mut bytes: &[u8],
        on_event: &mut dyn FnMut(&SseEvent<'_>) -> bool,
    ) -> Result<bool, EventTooLarge> {
        if self.at_start {
            // Wait until three bytes decide whether a BOM is there.
            let have = self.partial.len() + bytes.len();
            if have < BOM.len() && BOM.starts_with(&[&self.partial[..], bytes].concat()) {
                self.partial.extend_from_slice(bytes);
                return Ok(true);
            }
            self.at_start = false;
            if !self.partial.is_empty() {
                let mut head = std::mem::take(&mut self.partial);
                head.extend_from_slice(bytes);
                let start = if head.starts_with(BOM) { BOM.len() } else { 0 };
                return self.feed_lines(&head[start..], on_event);
            }
            if bytes.starts_with(BOM) {
                bytes = &bytes[BOM.len()..];
            }
        }
        self.feed_lines(bytes, on_event)
    }

    fn feed_lines(
        &mut self,
        mut bytes: &[u8],
        on_event: &mut dyn FnMut(&SseEvent<'_>) -> bool,
    ) -> Result<bool, EventTooLarge> {
        if bytes.is_empty() {
            // Found by fuzzing: an empty piece between CR and LF must not
            // forget the CR (the LF would end a second, blank line).
            return Ok(true);
        }
        if self.after_cr && bytes.first() == Some(&b'\n') {
            bytes = &bytes[1..];
        }
        self.after_cr = false;
        while let Some(end) = memchr::memchr2(b'\n', b'\r', bytes) {
            let keep_going = if self.partial.is_empty() {
                self.line(&bytes[..end], on_event)?
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(&bytes[..end]);
                let result = self.line(&line, on_event);
                line.clear();
                self.partial = line; // keep the allocation
                result?
            };
            let mut next = end + 1;
            if bytes[end] == b'\r' {
                match bytes.get(next) {
                    Some(b'\n') => next += 1,
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
            bytes = &bytes[next..];
            if !keep_going {
                return Ok(false);
            }
        }
        self.partial.extend_from_slice(bytes);
        self.check_size()?;
        Ok(true)
    }

    fn check_size(&self) -> Result<(), EventTooLarge> {
        if self.partial.len() + self.data.len() + self.event_type.len() > self.max_event_bytes {
            Err(EventTooLarge {
                limit: self.max_event_bytes,
            })
        } else {
            Ok(())
        }
    }

    /// Processes one complete line (without its terminator).
    fn line(
        &mut self,
        line: &[u8],
        on_event: &mut dyn FnMut(&SseEvent<'_>) -> bool,
    ) -> Result<bool, EventTooLarge> {
        if line.is_empty() {
            return Ok(self.dispatch(on_event));
        }
        if line[0] == b':' {
            return Ok(true);
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                self.data.extend_from_slice(value);
                self.data.push(b'\n');
            }
            b"event" => {
                self.event_type.clear();
                self.event_type.extend_from_slice(value);
            }
            // An id holding NUL is ignored, as the spec says.
            b"id" if !value.contains(&0) => {
                self.last_id.clear();
                self.last_id.extend_from_slice(value);
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                self.retry_ms = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
            }
            // Unknown fields, and invalid id/retry values, are ignored.
            _ => {}
        }
        self.check_size()?;
        Ok(true)
    }

    fn dispatch(&mut self, on_event: &mut dyn FnMut(&SseEvent<'_>) -> bool) -> bool {
        if self.data.is_empty() {
            self.event_type.clear();
            return true;
        }
        self.data.pop(); // the '\n' after the last data line
        let event = SseEvent {
            event: if self.event_type.is_empty() {
                Cow::Borrowed("message")
            } else {
                text(&self.event_type)
            },
            data: text(&self.data),
            id: text(&self.last_id),
        };
        let keep_going = on_event(&event);
        self.data.clear();
        self.event_type.clear();
        keep_going
    }
}

/// Whether an event says the stream failed: `event: error`, or data that is
/// a JSON object with a top-level `error` key. Called for every event of
/// every stream, so the usual answer (no) comes from a byte search: a key
/// `error` is spelled out or escaped (`\u0065...`); only then is the object
/// read, its keys borrowed, not copied.
pub fn is_error_event(event: &SseEvent<'_>) -> bool {
    if event.event == "error" {
        return true;
    }
    let data = event.data.trim_start();
    if !data.starts_with('{') {
        return false;
    }
    static ERROR: once_cell::sync::Lazy<memchr::memmem::Finder<'static>> =
        once_cell::sync::Lazy::new(|| memchr::memmem::Finder::new("error"));
    static ESCAPE: once_cell::sync::Lazy<memchr::memmem::Finder<'static>> =
        once_cell::sync::Lazy::new(|| memchr::memmem::Finder::new("\\u"));
    let bytes = data.as_bytes();
    if ERROR.find(bytes).is_none() && ESCAPE.find(bytes).is_none() {
        return false;
    }
    serde_json::from_str::<HasErrorKey>(data).is_ok_and(|has| has.0)
}

/// A JSON object, read only for whether it has a top-level `error` key.
struct HasErrorKey(bool);

impl<'de> serde::Deserialize<'de> for HasErrorKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, Visitor};
        struct IsError(bool);
        impl<'de> serde::Deserialize<'de> for IsError {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct K;
                impl Visitor<'_> for K {
                    type Value = IsError;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str("a key")
                    }
                    fn visit_str<E>(self, v: &str) -> Result<IsError, E> {
                        Ok(IsError(v == "error"))
                    }
                }
                d.deserialize_str(K)
            }
        }
        struct M;
        impl<'de> Visitor<'de> for M {
            type Value = HasErrorKey;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<HasErrorKey, A::Error> {
                let mut found = false;
                while let Some(IsError(is)) = map.next_key()? {
                    found |= is;
                    map.next_value::<IgnoredAny>()?;
                }
                Ok(HasErrorKey(found))
            }
        }
        d.deserialize_map(M)
    }
}

/// Owned copy of an event, for events held back until a stream commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedEvent {
    pub event: String,
    pub data: String,
    pub id: String,
}

impl OwnedEvent {
    pub fn from_event(e: &SseEvent<'_>) -> OwnedEvent {
        OwnedEvent {
            event: e.event.to_string(),
            data: e.data.to_string(),
            id: e.id.to_string(),
        }
    }

    pub fn as_event(&self) -> SseEvent<'_> {
        SseEvent {
            event: Cow::Borrowed(&self.event),
            data: Cow::Borrowed(&self.data),
            id: Cow::Borrowed(&self.id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_pieces(stream: &[u8], sizes: &mut dyn FnMut() -> usize) -> Vec<OwnedEvent> {
        let mut parser = SseParser::new(1 << 20);
        let mut events = Vec::new();
        let mut rest = stream;
        while !rest.is_empty() {
            let n = sizes().clamp(1, rest.len());
            parser
                .feed(&rest[..n], &mut |e| {
                    events.push(OwnedEvent::from_event(e));
                    true
                })
                .unwrap();
            rest = &rest[n..];
        }
        events
    }

    fn parse(stream: &[u8]) -> Vec<OwnedEvent> {
        parse_in_pieces(stream, &mut || usize::MAX)
    }

    fn ev(event: &str, data: &str, id: &str) -> OwnedEvent {
        OwnedEvent {
            event: event.into(),
            data: data.into(),
            id: id.into(),
        }
    }

    #[test]
    fn fields_comments_and_defaults() {
        let events = parse(b": comment\ndata: a\ndata:b\ndata\n\nevent: done\nid: 7\ndata: x\n\n");
        assert_eq!(
            events,
            vec![ev("message", "a\nb\n", ""), ev("done", "x", "7")]
        );
    }

    #[test]
    fn line_endings_lf_crlf_cr() {
        let expected = vec![ev("message", "one", ""), ev("e", "two\nthree", "")];
        for eol in ["\n", "\r\n", "\r"] {
            let s = format!("data: one{eol}{eol}event: e{eol}data: two{eol}data: three{eol}{eol}");
            assert_eq!(parse(s.as_bytes()), expected, "{eol:?}");
        }
        assert_eq!(
            parse(b"data: a\r\n\rdata: b\n\r\n"),
            vec![ev("message", "a", ""), ev("message", "b", "")]
        );
    }

    #[test]
    fn bom_only_at_start() {
        assert_eq!(
            parse(b"\xEF\xBB\xBFdata: x\n\n"),
            vec![ev("message", "x", "")]
        );
        // Split inside the BOM.
        assert_eq!(
            parse_in_pieces(b"\xEF\xBB\xBFdata: x\n\n", &mut || 1),
            vec![ev("message", "x", "")]
        );
        // A second BOM is not stripped: the line's field name is then not "data".
        assert_eq!(parse(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\n"), vec![]);
        // A stream shorter than a BOM still parses.
        assert_eq!(parse(b"\n"), vec![]);
    }

    #[test]
    fn unterminated_last_event_is_dropped_and_empty_data_not_dispatched() {
        assert_eq!(parse(b"data: a\n\ndata: b\n"), vec![ev("message", "a", "")]);
        assert_eq!(
            parse(b"event: x\n\ndata: y\n\n"),
            vec![ev("message", "y", "")]
        );
        assert_eq!(parse(b"data:\n\n"), vec![ev("message", "", "")]);
    }

    #[test]
    fn id_persists_and_ignores_nul_and_retry_parses() {
        let mut p = SseParser::new(1024);
        let mut events = Vec::new();
        p.feed(b"id: 1\ndata: a\n\ndata: b\n\nid: x\0y\ndata: c\n\nid\ndata: d\n\nretry: 1500\nretry: x\n", &mut |e| {
            events.push(OwnedEvent::from_event(e));
            true
        })
        .unwrap();
        let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["1", "1", "1", ""]);
        assert_eq!(p.retry_ms(), Some(1500));
    }

    #[test]
    fn any_split_gives_the_same_events() {
        let mut stream = Vec::new();
        for i in 0..200 {
            let eol = ["\n", "\r\n", "\r"][i % 3];
            stream.extend_from_slice(
                format!(": c{i}{eol}event: e{i}{eol}id: {i}{eol}data: {{\"i\":{i},\"s\":\"é\"}}{eol}data: two{eol}{eol}")
                    .as_bytes(),
            );
        }
        let whole = parse(&stream);
        assert_eq!(whole.len(), 200);
        assert_eq!(parse_in_pieces(&stream, &mut || 1), whole);
        // A small deterministic PRNG: random chunk sizes without a dependency.
        let mut seed = 0x2545F4914F6CDD1Du64;
        let mut random = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % 37) as usize + 1
        };
        for _ in 0..20 {
            assert_eq!(parse_in_pieces(&stream, &mut random), whole);
        }
    }

    #[test]
    fn an_empty_piece_inside_crlf_changes_nothing() {
        let mut p = SseParser::new(1024);
        let mut events = Vec::new();
        for piece in [&b"data: a\r"[..], b"", b"\ndata: b\r\n\r\n"] {
            p.feed(piece, &mut |e| {
                events.push(OwnedEvent::from_event(e));
                true
            })
            .unwrap();
        }
        assert_eq!(events, vec![ev("message", "a\nb", "")]);
    }

    #[test]
    fn multibyte_text_split_across_pieces() {
        let events = parse_in_pieces("data: héllo wörld ✓\n\n".as_bytes(), &mut || 1);
        assert_eq!(events, vec![ev("message", "héllo wörld ✓", "")]);
        let events = parse(b"data: \xff\n\n");
        assert_eq!(events[0].data, "\u{FFFD}");
    }

    #[test]
    fn event_size_is_limited() {
        let mut p = SseParser::new(100);
        let long = format!("data: {}\n", "x".repeat(60));
        assert!(p.feed(long.as_bytes(), &mut |_| true).is_ok());
        assert_eq!(
            p.feed(long.as_bytes(), &mut |_| true),
            Err(EventTooLarge { limit: 100 })
        );
        // A line without terminator counts too.
        let mut p = SseParser::new(100);
        assert!(p.feed(&[b'x'; 101], &mut |_| true).is_err());
    }

    #[test]
    fn stopping_early() {
        let mut p = SseParser::new(1024);
        let mut n = 0;
        let r = p.feed(b"data: 1\n\ndata: 2\n\n", &mut |_| {
            n += 1;
            false
        });
        assert_eq!(r, Ok(false));
        assert_eq!(n, 1);
    }

    #[test]
    fn error_events() {
        let e = |event: &str, data: &str| ev(event, data, "");
        assert!(is_error_event(&e("error", "x").as_event()));
        assert!(is_error_event(
            &e("message", r#"{"error":{"message":"boom"}}"#).as_event()
        ));
        assert!(!is_error_event(
            &e("message", r#"{"choices":[],"x":{"error":1}}"#).as_event()
        ));
        assert!(!is_error_event(&e("message", "[DONE]").as_event()));
        assert!(!is_error_event(&e("message", r#"["error"]"#).as_event()));
        // The key found however it is spelled; text that only mentions it,
        // or is not an object, is not an error.
        assert!(is_error_event(
            &e("message", r#" {"a":[1,{"b":null}],"\u0065rror":true}"#).as_event()
        ));
        assert!(is_error_event(
            &e("message", r#"{"error":1,"error":2}"#).as_event()
        ));
        assert!(!is_error_event(
            &e("message", r#"{"text":"error \u00e9","errors":[]}"#).as_event()
        ));
        assert!(!is_error_event(&e("message", r#"{"error":1"#).as_event()));
        assert!(!is_error_event(
            &e("message", r#"{"error":1} x"#).as_event()
        ));
        assert!(!is_error_event(
            &e("message", r#"{"delta":"hi"}"#).as_event()
        ));
    }
}
