//! A request as the caller builds it.

use crate::error::{Error, Result};
use crate::transport::cancel::CancelToken;

pub use crate::http::headers::{check_header, is_token};
// Where the layers above (server, ffi, tests) find the control vocabulary.
pub(crate) use crate::plan::controls::TRANSPORT_HEADERS;
pub use crate::plan::controls::{
    CACHE_TTL_LIMIT_S, CONTROL_PREFIX, ControlHeaders, FeatureControls, split_controls,
};

/// One request to the gateway: method, gateway path, headers, body and an
/// optional cancel token. Sending it does not consume it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub cancel: Option<CancelToken>,
}

impl Request {
    pub fn new(method: &str, path: &str) -> Result<Request> {
        if !is_token(method) {
            return Err(Error::invalid_argument(format!(
                "method {method:?} is not an HTTP token"
            )));
        }
        Ok(Request {
            method: method.to_string(),
            path: path.to_string(),
            ..Request::default()
        })
    }

    /// Adds a header. Repeating a name adds another value, as HTTP allows.
    pub fn set_header(&mut self, name: &str, value: &str) -> Result<()> {
        check_header(name, value)?;
        self.headers.push((name.to_string(), value.to_string()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn header_checks() {
        assert!(check_header("x-ok", "a\tb").is_ok());
        for (n, v) in [
            ("", "v"),
            ("a b", "v"),
            ("a:b", "v"),
            ("x", "a\r\nb"),
            ("x", "a\0"),
        ] {
            assert_eq!(
                check_header(n, v).unwrap_err().kind,
                ErrorKind::InvalidArgument,
                "{n:?}"
            );
        }
        let e = check_header("Authorization", "Bearer sk-SECRET\n").unwrap_err();
        assert!(!e.message.contains("SECRET"));
        assert!(Request::new("POST", "openai/x").is_ok());
        assert!(Request::new("PO ST", "openai/x").is_err());
        assert!(Request::new("", "openai/x").is_err());
    }
}
