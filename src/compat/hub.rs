//! The hub's model: one request, response and stream-event shape that every
//! dialect reads into and writes out of. Nothing here knows a wire format.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::de::{Deserialize, Deserializer, Visitor};
use serde_json::{Map, Value};

use crate::json::scan::plain_run;

/// A chat request, whatever format the caller wrote it in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatRequest {
    /// The provider's own model name (the `{provider}/` prefix stripped).
    pub model: String,
    /// System and developer instructions, in order.
    pub system: Vec<Text>,
    pub messages: Vec<Message>,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    pub parallel_tool_calls: Option<bool>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u64>,
    pub max_tokens: Option<u64>,
    pub stop: Vec<String>,
    pub response_format: Option<ResponseFormat>,
    pub stream: bool,
    pub include_usage: bool,
    pub n: Option<u64>,
    /// Fields the hub has no slot for, by name, as the caller wrote them.
    /// A target that cannot honour them refuses the request (or drops them
    /// when asked to).
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
    /// The result of a tool call (`tool_call_id` says which).
    Tool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub parts: Vec<Part>,
    /// Assistant turns: the calls the model made.
    pub tool_calls: Vec<ToolCall>,
    /// Tool turns: the call this answers.
    pub tool_call_id: Option<String>,
}

impl Message {
    pub fn new(role: Role) -> Message {
        Message {
            role,
            parts: Vec::new(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    /// The text parts joined, for places that take one text.
    pub fn text(&self) -> Text {
        let mut out = Text::default();
        for p in &self.parts {
            if let Part::Text(t) = p {
                out.push(t);
            }
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(Text),
    /// An inline image: its media type and base64 data.
    Image {
        media_type: String,
        data: String,
    },
    /// An image by URL (http or https).
    ImageUrl(String),
}

/// A text as a JSON string holds it: escaped, without its quotes. Every
/// dialect is JSON, so a text read from one (checked as JSON checks it) is
/// written to another as it came, never decoded and escaped again: messages
/// and answers, the long strings of a request and its response, are copied.
#[derive(Clone, Default)]
pub struct Text(String);

impl Text {
    /// The text `plain`, escaped.
    pub fn new(plain: &str) -> Text {
        let mut t = Text(String::with_capacity(plain.len()));
        t.push_plain(plain);
        t
    }

    /// A text already escaped, as [`Scan::raw_string`] gives it (or any
    /// text with no `"`, `\` or control character).
    ///
    /// [`Scan::raw_string`]: crate::json::scan::Scan::raw_string
    pub fn from_json(escaped: &str) -> Text {
        debug_assert!(serde_json::from_str::<String>(&format!("\"{escaped}\"")).is_ok());
        Text(escaped.to_owned())
    }

    /// The text as JSON writes it inside quotes.
    pub fn as_json(&self) -> &str {
        &self.0
    }

    /// The text itself, decoded where it holds an escape.
    pub fn plain(&self) -> Cow<'_, str> {
        if !self.0.contains('\\') {
            return Cow::Borrowed(&self.0);
        }
        let mut quoted = String::with_capacity(self.0.len() + 2);
        quoted.push('"');
        quoted.push_str(&self.0);
        quoted.push('"');
        // Always a valid JSON string (see `from_json`); never fails.
        Cow::Owned(serde_json::from_str(&quoted).unwrap_or_default())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Its length escaped, which is what writing it adds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn push(&mut self, t: &Text) {
        self.0.push_str(&t.0);
    }

    pub fn push_plain(&mut self, plain: &str) {
        write_escaped(&mut self.0, plain);
    }

    /// `texts` joined by the plain text `sep`.
    pub fn join(texts: &[Text], sep: &str) -> Text {
        let mut out = Text::default();
        for (i, t) in texts.iter().enumerate() {
            if i > 0 {
                out.push_plain(sep);
            }
            out.push(t);
        }
        out
    }
}

impl From<&str> for Text {
    fn from(plain: &str) -> Text {
        Text::new(plain)
    }
}

impl From<String> for Text {
    fn from(plain: String) -> Text {
        Text::new(&plain)
    }
}

/// Equal texts, however each was escaped (`\u00e9` and `é` alike).
impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.0 == other.0 || self.plain() == other.plain()
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.plain() == *other
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.plain(), f)
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.plain())
    }
}

/// As the plain string (the `Value` writers' `json!` takes it so).
impl serde::Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.plain())
    }
}

/// From a JSON string (serde's readers, where the scanner gave up).
impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E>(self, v: &str) -> Result<Text, E> {
                Ok(Text::new(v))
            }
        }
        d.deserialize_str(V)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as JSON text (an object).
    pub arguments: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub name: String,
    pub description: Option<String>,
    /// JSON Schema of the arguments (an object).
    pub parameters: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ToolChoice {
    Auto,
    None,
    /// Some tool must be called.
    Required,
    /// This tool must be called.
    Named(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema { name: String, schema: Value },
}

/// Why the model stopped, in the hub's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Finish {
    #[default]
    Stop,
    Length,
    ToolCalls,
    ContentFilter,
}

/// Token counts. `input` counts every input token, cached ones included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenUsage {
    pub input: u64,
    pub output: u64,
    /// Input tokens read from the provider's prompt cache (part of `input`).
    pub cache_read: u64,
    /// Input tokens written to the prompt cache (part of `input`).
    pub cache_write: u64,
}

/// A whole chat answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatResponse {
    pub id: String,
    pub model: String,
    pub created: u64,
    pub text: Option<Text>,
    pub tool_calls: Vec<ToolCall>,
    pub finish: Finish,
    /// The stop sequence that ended the answer, when one did.
    pub stop_sequence: Option<String>,
    pub usage: Option<TokenUsage>,
}

/// One step of a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Delta {
    /// The answer began (once, first).
    Start {
        id: String,
        model: String,
    },
    Text(Text),
    /// A tool call began: `index` counts tool calls from 0 in order of appearance.
    ToolStart {
        index: usize,
        id: String,
        name: String,
    },
    /// A fragment of a tool call's arguments.
    ToolArgs {
        index: usize,
        fragment: String,
    },
    Finish {
        reason: Finish,
        stop_sequence: Option<String>,
    },
    Usage(TokenUsage),
    /// The upstream's end marker arrived.
    End,
    /// The upstream reported an error mid-stream.
    Error {
        kind: String,
        message: String,
    },
}

/// An embeddings request.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedRequest {
    pub model: String,
    pub inputs: Vec<String>,
    /// The caller sent one string rather than an array.
    pub single: bool,
    pub dimensions: Option<u64>,
}

/// A unique id with a prefix (`call_...`), for what a provider leaves unnamed.
pub fn synth_id(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static SEED: once_cell::sync::Lazy<u64> = once_cell::sync::Lazy::new(|| {
        let mut b = [0u8; 8];
        let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
        u64::from_le_bytes(b)
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{:016x}{n:08x}", *SEED)
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Splits a `data:` URL into media type and base64 data.
pub fn parse_data_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let media_type = meta.strip_suffix(";base64")?;
    if media_type.is_empty() || data.is_empty() {
        return None;
    }
    Some((media_type.to_string(), data.to_string()))
}

/// The message and type of an upstream error body, whatever its dialect:
/// `{"error":{"message","type"|"status"}}` (OpenAI, Google),
/// `{"type":"error","error":{"type","message"}}` (Anthropic), or a bare
/// `{"message"}`. Falls back to the body text, cut short.
pub fn upstream_error(body: &[u8]) -> (String, Option<String>) {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        let v = match &v {
            Value::Array(items) if !items.is_empty() => items[0].clone(),
            _ => v,
        };
        let err = v.get("error").unwrap_or(&v);
        if let Some(message) = err.get("message").and_then(Value::as_str) {
            let kind = err
                .get("type")
                .or_else(|| err.get("status"))
                .and_then(Value::as_str)
                .map(String::from);
            return (message.to_string(), kind);
        }
        if let Some(message) = err.as_str() {
            return (message.to_string(), None);
        }
    }
    let text = String::from_utf8_lossy(body);
    let mut cut = text.trim().to_string();
    if cut.len() > 500 {
        let mut end = 500;
        while !cut.is_char_boundary(end) {
            end -= 1;
        }
        cut.truncate(end);
    }
    if cut.is_empty() {
        cut = "the provider gave no error message".into();
    }
    (cut, None)
}

/// A vector as OpenAI's base64 embeddings: little-endian f32s, base64.
pub fn f32_base64(v: &Value) -> String {
    let bytes: Vec<u8> = v
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|x| (x.as_f64().unwrap_or(0.0) as f32).to_le_bytes())
        .collect();
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Checks a tool call's arguments: JSON text holding an object.
pub fn check_arguments(args: &str, what: &str) -> Result<(), String> {
    match serde_json::from_str::<Value>(args) {
        Ok(Value::Object(_)) => Ok(()),
        Ok(_) => Err(format!("{what}: arguments must be a JSON object")),
        Err(e) => Err(format!("{what}: arguments are not valid JSON ({e})")),
    }
}

/// A tool name as every provider accepts it.
pub fn check_tool_name(name: &str, what: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "{what}: tool name {name:?} must be 1 to 64 letters, digits, '_' or '-'"
        ));
    }
    Ok(())
}

/// A JSON string or null, borrowed from the input when it holds no escapes:
/// the typed readers of the hot paths (answers, stream events) use it
/// instead of `Value` trees. Absent and null are both `None`.
#[derive(Debug, Default)]
pub struct Str<'a>(pub Option<Cow<'a, str>>);

impl Str<'_> {
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or null")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Str<'de>, E> {
                Ok(Str(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Str<'de>, E> {
                Ok(Str(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E>(self, v: String) -> Result<Str<'de>, E> {
                Ok(Str(Some(Cow::Owned(v))))
            }
            fn visit_unit<E>(self) -> Result<Str<'de>, E> {
                Ok(Str(None))
            }
            fn visit_none<E>(self) -> Result<Str<'de>, E> {
                Ok(Str(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// Reads `T` from JSON bytes, checked as UTF-8 once and then read as text,
/// so that serde does not check each string it borrows again (bytes that are
/// not UTF-8 are read as bytes, for serde's own error).
pub fn from_json_bytes<'a, T: Deserialize<'a>>(body: &'a [u8]) -> serde_json::Result<T> {
    match std::str::from_utf8(body) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(body),
    }
}

/// A JSON object read into `T` (a derived struct): only an object, never
/// the array form serde's derived structs also take, so a typed reader
/// accepts no shape its `Value` counterpart refuses.
#[derive(Debug)]
pub struct Obj<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Obj<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Obj<T>, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Obj)
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// Appends `s` as a JSON string (quoted, escaped): the writers of the hot
/// paths (answers, stream events) write their JSON text directly instead of
/// building a `Value` tree to serialise.
pub fn write_str(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    write_escaped(out, s);
    out.push('"');
}

/// Appends a text as a JSON string: as it is held, quoted.
pub fn write_text(out: &mut String, t: &Text) {
    out.reserve(t.len() + 2);
    out.push('"');
    out.push_str(t.as_json());
    out.push('"');
}

/// Appends `s` escaped as inside a JSON string. Runs of bytes that need no
/// escape (nearly all of a text) are found a block at a time and copied
/// whole.
fn write_escaped(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    loop {
        i += plain_run::<false>(&bytes[i..]);
        let Some(&b) = bytes.get(i) else { break };
        out.push_str(&s[start..i]);
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 15) as usize] as char);
            }
        }
        i += 1;
        start = i;
    }
    out.push_str(&s[start..]);
}

/// Appends `s` as a JSON string, or `null`.
pub fn write_opt_str(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => write_str(out, s),
        None => out.push_str("null"),
    }
}

/// Appends an unsigned integer (its digits written directly, two at a
/// time: `fmt` costs several times more on the hot paths).
pub fn write_u64(out: &mut String, mut n: u64) {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        i -= 2;
        digits[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        i -= 2;
        digits[i..i + 2].copy_from_slice(&PAIRS[n as usize * 2..n as usize * 2 + 2]);
    } else {
        i -= 1;
        digits[i] = b'0' + n as u8;
    }
    // SAFETY: `digits[i..]` holds only ASCII digits, written just above.
    out.push_str(unsafe { std::str::from_utf8_unchecked(&digits[i..]) });
}

// Readers of request fields shared by the dialects, so a field's error
// message is the same whichever format the caller speaks.

pub(super) fn obj<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, String> {
    v.as_object()
        .ok_or_else(|| format!("{what} must be a JSON object"))
}

pub(super) fn opt_f64(o: &Map<String, Value>, key: &str) -> Result<Option<f64>, String> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| format!("{key} must be a number")),
    }
}

pub(super) fn opt_u64(o: &Map<String, Value>, key: &str) -> Result<Option<u64>, String> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("{key} must be a non-negative integer")),
    }
}

pub(super) fn opt_bool(o: &Map<String, Value>, key: &str) -> Result<Option<bool>, String> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_bool()
            .map(Some)
            .ok_or_else(|| format!("{key} must be true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_strings_are_the_json_serde_writes() {
        for s in [
            "",
            "plain",
            "quote \" back \\ slash",
            "nl\n cr\r tab\t",
            "\u{1}\u{1f} bell\u{7} bs\u{8} ff\u{c}",
            "é ✓ 😀",
            "</script>",
        ] {
            let mut out = String::new();
            write_str(&mut out, s);
            assert_eq!(out, serde_json::to_string(s).unwrap());
            assert_eq!(serde_json::from_str::<String>(&out).unwrap(), s);
        }
    }

    #[test]
    fn texts_are_held_escaped_and_compare_by_what_they_say() {
        let t = Text::new("q\"\\\n é");
        assert_eq!(t.as_json(), r#"q\"\\\n é"#);
        assert_eq!(t.plain(), "q\"\\\n é");
        let mut out = String::new();
        write_text(&mut out, &t);
        assert_eq!(out, serde_json::to_string("q\"\\\n é").unwrap());
        // Another spelling of the same text is the same text.
        let other = Text::from_json(r#"q\u0022\\\n \u00e9"#);
        assert_eq!(other, t);
        assert_ne!(Text::from_json("q"), t);
        assert_eq!(format!("{other:?}"), format!("{:?}", "q\"\\\n é"));
        assert_eq!(serde_json::to_value(&other).unwrap(), "q\"\\\n é");
        let joined = Text::join(&[Text::new("a"), other], "\n\n");
        assert_eq!(joined.as_json(), r#"a\n\nq\u0022\\\n \u00e9"#);
        let read: Vec<Option<Text>> = serde_json::from_str(r#"["x\ty", null]"#).unwrap();
        assert_eq!(read[0].as_ref().unwrap().as_json(), r#"x\ty"#);
        assert!(read[1].is_none());
        assert!(serde_json::from_str::<Text>("1").is_err());
    }

    #[test]
    fn integers_are_written_as_display_writes_them() {
        for n in [
            0,
            1,
            9,
            10,
            99,
            100,
            4096,
            1_733_000_000,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut out = String::from("x");
            write_u64(&mut out, n);
            assert_eq!(out, format!("x{n}"));
        }
        for n in (0..100_000).chain((1..=19).map(|e| 10u64.pow(e) - 1)) {
            let mut out = String::new();
            write_u64(&mut out, n);
            assert_eq!(out, n.to_string());
        }
    }

    #[test]
    fn mixed_texts_are_written_as_serde_writes_them() {
        let alphabet = [
            "a", "Z", " ", "\"", "\\", "\n", "\u{1}", "\u{1f}", "é", "😀", "\u{7f}", "/",
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..500 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 90) as usize;
            let text: String = (0..len)
                .map(|k| alphabet[((seed >> (k % 50)) as usize + k * 7) % alphabet.len()])
                .collect();
            let mut out = String::new();
            write_str(&mut out, &text);
            assert_eq!(out, serde_json::to_string(&text).unwrap(), "{text:?}");
        }
    }

    #[test]
    fn escapes_are_found_at_every_place_of_an_eight_byte_word() {
        let specials = (0u8..0x20)
            .map(|b| (b as char).to_string())
            .chain(["\"", "\\", "\u{7f}", "é", "✓", "😀", " ", "~"].map(String::from));
        for special in specials {
            for at in 0..40 {
                for len in [at, 25, 26, 33, 40, 47, 48, 57] {
                    let pad = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
                    let mut s: String = pad[..at].into();
                    s.push_str(&special);
                    s.push_str(&pad[..len.max(at) - at]);
                    let mut out = String::from("x");
                    write_str(&mut out, &s);
                    assert_eq!(out[1..], serde_json::to_string(&s).unwrap(), "{s:?}");
                }
            }
        }
    }

    #[test]
    fn escapes_are_found_at_every_place_of_a_long_text() {
        // Long enough for the 32-byte (AVX2) blocks, and their tails.
        let pad = "The quick brown fox jumps over the lazy dog. ".repeat(4);
        for special in ["\"", "\\", "\n", "\u{0}", "\u{1f}", "é", "\u{7f}"] {
            for at in 0..170 {
                for len in [at, 63, 64, 65, 95, 96, 97, 170] {
                    let mut s: String = pad[..at].into();
                    s.push_str(special);
                    s.push_str(&pad[..len.max(at) - at]);
                    let mut out = String::new();
                    write_str(&mut out, &s);
                    assert_eq!(out, serde_json::to_string(&s).unwrap(), "{s:?}");
                    assert_eq!(
                        plain_run::<false>(s.as_bytes()),
                        s.find(|c| matches!(c, '\0'..='\u{1f}' | '"' | '\\'))
                            .unwrap_or(s.len()),
                        "{s:?}"
                    );
                    assert_eq!(
                        plain_run::<true>(s.as_bytes()),
                        s.find(|c| matches!(c, '\0'..='\u{1f}' | '"' | '\\' | '\u{80}'..))
                            .unwrap_or(s.len()),
                        "{s:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn typed_strings_borrow_unless_escaped() {
        let v: Vec<Str> = serde_json::from_str(r#"["plain", "esc\n", null]"#).unwrap();
        assert!(matches!(v[0].0, Some(Cow::Borrowed("plain"))));
        assert_eq!(v[1].as_deref(), Some("esc\n"));
        assert!(v[2].0.is_none());
        assert!(serde_json::from_str::<Str>("12").is_err());
    }

    #[test]
    fn ids_are_unique() {
        let a = synth_id("call_");
        let b = synth_id("call_");
        assert_ne!(a, b);
        assert!(a.starts_with("call_"));
    }

    #[test]
    fn base64_vectors() {
        // 1.0f32 is 00 00 80 3f.
        assert_eq!(f32_base64(&serde_json::json!([1.0])), "AACAPw==");
        assert_eq!(f32_base64(&serde_json::json!([])), "");
    }

    #[test]
    fn data_urls() {
        assert_eq!(
            parse_data_url("data:image/png;base64,AAAA"),
            Some(("image/png".into(), "AAAA".into()))
        );
        assert_eq!(parse_data_url("data:image/png,AAAA"), None);
        assert_eq!(parse_data_url("https://x/y.png"), None);
    }

    #[test]
    fn error_bodies_of_every_dialect() {
        let (m, t) = upstream_error(
            br#"{"type":"error","error":{"type":"overloaded_error","message":"busy"}}"#,
        );
        assert_eq!(
            (m.as_str(), t.as_deref()),
            ("busy", Some("overloaded_error"))
        );
        let (m, t) = upstream_error(
            br#"{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}"#,
        );
        assert_eq!(
            (m.as_str(), t.as_deref()),
            ("bad", Some("INVALID_ARGUMENT"))
        );
        let (m, _) = upstream_error(b"oops");
        assert_eq!(m, "oops");
    }
}
