//! A response as the gateway hands it back.

use crate::http::header_list::HeaderList;

/// Status, headers in the order received, body, and which Universal step
/// served it (0 for provider endpoints).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderList,
    pub body: Vec<u8>,
    pub step: usize,
}

impl Response {
    /// First value of a header, matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}
