//! Fault directives: how a test tells the mock to misbehave.
//!
//! Directives arrive as a comma-separated list, in the `x-mock` request header
//! or in a leading path segment `/_mock/<directives>/`. The path form lets a
//! gateway config's `base_url` carry faults for every request to a provider.

/// Every directive a request can carry; see the crate README for meanings.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Directives {
    pub status: Option<u16>,
    pub stall_ms: Option<u64>,
    pub fail: Option<u64>,
    pub key: Option<String>,
    pub retry_after: Option<String>,
    pub drop: bool,
    pub headers: Vec<(String, String)>,
    pub body_size: Option<usize>,
    pub echo: bool,
    pub stream: bool,
    pub events: Option<u64>,
    pub delay_ms: Option<u64>,
    pub error_first: bool,
    pub error_data_first: bool,
    pub break_after: Option<u64>,
    pub stall_after: Option<u64>,
    pub byte_per_write: bool,
    pub crlf: bool,
    /// Dialect answers: answer with N tool calls.
    pub tool_calls: Option<u64>,
    /// Dialect answers: the answer stops at the token limit.
    pub truncate: bool,
    /// Dialect answers: prompt cache reads and writes in the usage.
    pub cache_read: Option<u64>,
    pub cache_write: Option<u64>,
    /// Dialect streams: leave out the end marker, then close cleanly.
    pub no_end: bool,
}

impl Directives {
    /// `events=N`, or the default five.
    pub fn events_or(&self, default: u64) -> u64 {
        self.events.unwrap_or(default)
    }
}

/// Names that take `=value`; the rest are flags.
const VALUED: &[&str] = &[
    "status",
    "stall",
    "fail",
    "key",
    "retry_after",
    "header",
    "body_size",
    "events",
    "delay_ms",
    "break_after",
    "stall_after",
    "tool_calls",
    "cache_read",
    "cache_write",
];
const FLAGS: &[&str] = &[
    "drop",
    "echo",
    "stream",
    "error_first",
    "error_data_first",
    "byte_per_write",
    "crlf",
    "truncate",
    "no_end",
];

impl Directives {
    /// Parses a directive list on top of the current values, so a later list
    /// (the header) overrides an earlier one (the path). `header=` adds.
    ///
    /// The error message names the offending directive.
    pub fn apply(&mut self, list: &str) -> Result<(), String> {
        for (name, value) in split(list)? {
            self.set(&name, value.as_deref())?;
        }
        Ok(())
    }

    fn set(&mut self, name: &str, value: Option<&str>) -> Result<(), String> {
        if FLAGS.contains(&name) {
            let on = match value.map(str::trim) {
                None | Some("1" | "true" | "yes" | "on") => true,
                Some("0" | "false" | "no" | "off") => false,
                Some(v) => return Err(format!("mock directive {name} is a flag, got value {v:?}")),
            };
            match name {
                "drop" => self.drop = on,
                "echo" => self.echo = on,
                "stream" => self.stream = on,
                "error_first" => self.error_first = on,
                "error_data_first" => self.error_data_first = on,
                "byte_per_write" => self.byte_per_write = on,
                "truncate" => self.truncate = on,
                "no_end" => self.no_end = on,
                _ => self.crlf = on,
            }
            return Ok(());
        }
        let Some(raw) = value else {
            return Err(format!("mock directive {name} needs a value ({name}=...)"));
        };
        let number = || -> Result<u64, String> {
            raw.trim()
                .parse::<u64>()
                .map_err(|_| format!("mock directive {name} wants a number, got {raw:?}"))
        };
        match name {
            "status" => {
                let n = number()?;
                if !(200..=599).contains(&n) {
                    return Err(format!("mock directive status wants 200..=599, got {n}"));
                }
                self.status = Some(n as u16);
            }
            "stall" => self.stall_ms = Some(number()?),
            "fail" => self.fail = Some(number()?),
            "key" => self.key = Some(raw.to_string()),
            "retry_after" => {
                check_header_value(name, raw)?;
                self.retry_after = Some(raw.trim().to_string());
            }
            "header" => {
                let (h, v) = raw.split_once(':').ok_or_else(|| {
                    format!("mock directive header wants Name:Value, got {raw:?}")
                })?;
                let h = h.trim();
                if h.is_empty() || !h.bytes().all(crate::http::is_token_byte) {
                    return Err(format!("mock directive header has a bad name: {h:?}"));
                }
                check_header_value(name, v)?;
                self.headers.push((h.to_string(), v.trim().to_string()));
            }
            "body_size" => {
                let n = number()?;
                // Generous but finite: a typo must not make the mock allocate gigabytes.
                if n > crate::http::MAX_BODY_BYTES as u64 {
                    return Err(format!(
                        "mock directive body_size is at most {}",
                        crate::http::MAX_BODY_BYTES
                    ));
                }
                self.body_size = Some(n as usize);
            }
            "events" => self.events = Some(number()?.min(1_000_000)),
            "delay_ms" => self.delay_ms = Some(number()?),
            "break_after" => self.break_after = Some(number()?),
            "tool_calls" => self.tool_calls = Some(number()?.min(64)),
            "cache_read" => self.cache_read = Some(number()?),
            "cache_write" => self.cache_write = Some(number()?),
            _ => self.stall_after = Some(number()?),
        }
        Ok(())
    }
}

/// A value must not smuggle extra header lines into the response.
fn check_header_value(name: &str, value: &str) -> Result<(), String> {
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(format!(
            "mock directive {name} has a control character in its value"
        ));
    }
    Ok(())
}

/// Splits a list into `(name, value)` pairs, checking every name.
///
/// A comma followed by a space continues the previous `retry_after=` or
/// `header=` value, so `retry_after=Wed, 21 Oct 2015 07:28:00 GMT` works.
fn split(list: &str) -> Result<Vec<(String, Option<String>)>, String> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    for piece in list.split(',') {
        if let Some((prev_name, Some(prev_value))) = out.last_mut()
            && piece.starts_with(' ')
            && (prev_name == "retry_after" || prev_name == "header")
        {
            prev_value.push(',');
            prev_value.push_str(piece);
            continue;
        }
        let piece = piece.trim();
        if piece.is_empty() {
            continue;
        }
        let (name, value) = match piece.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.to_string())),
            None => (piece, None),
        };
        if !VALUED.contains(&name) && !FLAGS.contains(&name) {
            return Err(format!("unknown mock directive: {name}"));
        }
        out.push((name.to_string(), value));
    }
    Ok(out)
}

/// Splits `/_mock/<directives>/rest` into the (percent-decoded) directive
/// list and the path to route (`/rest`, or `/` when nothing follows). Paths
/// without the prefix come back unchanged with no directives.
pub fn strip_path_prefix(path: &str) -> (String, String) {
    let Some(after) = path.strip_prefix("/_mock/") else {
        return (String::new(), path.to_string());
    };
    let (list, rest) = match after.find('/') {
        Some(i) => (&after[..i], &after[i..]),
        None => (after, "/"),
    };
    (percent_decode(list), rest.to_string())
}

/// Decodes `%XX` escapes; a malformed escape is kept as written.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(list: &str) -> Result<Directives, String> {
        let mut d = Directives::default();
        d.apply(list).map(|()| d)
    }

    #[test]
    fn parses_values_and_flags() {
        let d = parse(
            "status=429, stall=10,fail=2,key=k1,drop,header=X-A: 1,header=X-B:2,body_size=100,echo",
        )
        .unwrap();
        assert_eq!(d.status, Some(429));
        assert_eq!(d.stall_ms, Some(10));
        assert_eq!(d.fail, Some(2));
        assert_eq!(d.key.as_deref(), Some("k1"));
        assert!(d.drop && d.echo && !d.stream);
        assert_eq!(
            d.headers,
            vec![("X-A".into(), "1".into()), ("X-B".into(), "2".into())]
        );
        assert_eq!(d.body_size, Some(100));
    }

    #[test]
    fn http_date_keeps_its_comma() {
        let d = parse("retry_after=Wed, 21 Oct 2015 07:28:00 GMT,status=503").unwrap();
        assert_eq!(
            d.retry_after.as_deref(),
            Some("Wed, 21 Oct 2015 07:28:00 GMT")
        );
        assert_eq!(d.status, Some(503));
    }

    #[test]
    fn later_list_overrides() {
        let mut d = parse("status=503,events=2").unwrap();
        d.apply("status=500").unwrap();
        assert_eq!(d.status, Some(500));
        assert_eq!(d.events, Some(2));
    }

    #[test]
    fn errors_name_the_directive() {
        assert!(parse("bogus").unwrap_err().contains("bogus"));
        assert!(parse("status=abc").unwrap_err().contains("status"));
        assert!(parse("status=99").is_err());
        assert!(parse("drop=maybe").is_err());
        assert!(parse("stall").is_err());
        assert!(parse("header=NoColon").is_err());
        assert!(parse("header=Bad Name:v").is_err());
    }

    #[test]
    fn strips_path_prefix() {
        assert_eq!(
            strip_path_prefix("/_mock/status=503/v1/chat/completions"),
            ("status=503".to_string(), "/v1/chat/completions".to_string())
        );
        assert_eq!(
            strip_path_prefix("/_mock/drop"),
            ("drop".to_string(), "/".to_string())
        );
        assert_eq!(
            strip_path_prefix("/v1/x"),
            (String::new(), "/v1/x".to_string())
        );
        assert_eq!(
            strip_path_prefix("/_mock/retry_after=Wed,%2021%20Oct/x").0,
            "retry_after=Wed, 21 Oct"
        );
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
