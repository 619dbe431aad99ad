//! Name resolution for ureq: an IP-literal host (a local upstream, a
//! configured `http://10.0.0.5:8080` base) is its own address, with no
//! lookup and no allocation; any other name goes to ureq's resolver
//! (`getaddrinfo`).

use std::net::{IpAddr, SocketAddr};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// See the module comment.
#[derive(Debug, Default)]
pub struct LiteralResolver {
    names: DefaultResolver,
}

/// The address an IP-literal URL names, if it names one.
fn literal(uri: &Uri) -> Option<SocketAddr> {
    let authority = uri.authority()?;
    // http's parser spells the standard schemes in lowercase.
    let port = match authority.port_u16() {
        Some(p) => p,
        None => super::default_port(uri.scheme_str()?)?,
    };
    let host = authority.host();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    Some(SocketAddr::new(host.parse::<IpAddr>().ok()?, port))
}

impl Resolver for LiteralResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        match literal(uri) {
            // The family filter decides as it would for a looked-up name.
            Some(addr) if config.ip_family().keep_wanted([addr].into_iter()).count() == 1 => {
                let mut addrs = self.empty();
                addrs.push(addr);
                Ok(addrs)
            }
            _ => self.names.resolve(uri, config, timeout),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(url: &str) -> Option<SocketAddr> {
        literal(&url.parse().unwrap())
    }

    #[test]
    fn ip_literals_are_their_own_address() {
        assert_eq!(
            at("http://127.0.0.1:8080/v1"),
            Some("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(
            at("http://10.1.2.3/x"),
            Some("10.1.2.3:80".parse().unwrap())
        );
        assert_eq!(at("https://[::1]/x"), Some("[::1]:443".parse().unwrap()));
        assert_eq!(at("http://[::1]:9/x"), Some("[::1]:9".parse().unwrap()));
        assert_eq!(at("HTTP://10.1.2.3/"), Some("10.1.2.3:80".parse().unwrap()));
    }

    #[test]
    fn names_are_looked_up() {
        assert_eq!(at("http://localhost:8080/v1"), None);
        assert_eq!(at("https://api.openai.com/v1"), None);
        // Not a dotted quad: a name to look up, as getaddrinfo would.
        assert_eq!(at("http://127.1:80/"), None);
        assert_eq!(at("ftp://127.0.0.1/"), None);
    }
}
