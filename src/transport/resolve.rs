//! Name resolution for ureq. ureq asks its resolver on every request,
//! before it looks in its pool, so a name would be looked up
//! (`getaddrinfo`: files, and DNS for a provider's host) even when a kept-
//! alive connection serves the request. Here an IP-literal host (a local
//! upstream, a configured `http://10.0.0.5:8080` base) is its own address,
//! with no lookup and no allocation, and a name's addresses are kept for
//! [`NAME_TTL`] (libcurl's DNS cache keeps them as long by default), so
//! only a new connection after that looks the name up again.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ureq::config::{Config, IpFamily};
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// How long a name's looked-up addresses are used before it is looked up
/// again.
pub const NAME_TTL: Duration = Duration::from_secs(60);

/// Names kept at most; a gateway talks to a handful of hosts, and a full
/// table is emptied rather than grown.
const MAX_NAMES: usize = 256;

/// See the module comment. Clones share one table (every pool shard's
/// agent uses the same names).
#[derive(Debug, Default)]
pub struct CachedResolver {
    names: Arc<Mutex<HashMap<(String, u16), Found>>>,
    lookup: DefaultResolver,
}

impl Clone for CachedResolver {
    fn clone(&self) -> CachedResolver {
        CachedResolver {
            names: Arc::clone(&self.names),
            lookup: DefaultResolver::default(),
        }
    }
}

#[derive(Debug)]
struct Found {
    addrs: ResolvedSocketAddrs,
    family: IpFamily,
    at: Instant,
}

/// The port a URL names, or its scheme's default.
fn port_of(uri: &Uri) -> Option<u16> {
    let authority = uri.authority()?;
    match authority.port_u16() {
        Some(p) => Some(p),
        // http's parser spells the standard schemes in lowercase.
        None => super::default_port(uri.scheme_str()?),
    }
}

/// The address an IP-literal URL names, if it names one.
fn literal(uri: &Uri) -> Option<SocketAddr> {
    let host = uri.authority()?.host();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    Some(SocketAddr::new(host.parse::<IpAddr>().ok()?, port_of(uri)?))
}

impl CachedResolver {
    fn kept(
        &self,
        key: &(String, u16),
        family: IpFamily,
        now: Instant,
    ) -> Option<ResolvedSocketAddrs> {
        let names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        let found = names.get(key)?;
        if found.family != family || now.saturating_duration_since(found.at) >= NAME_TTL {
            return None;
        }
        Some(found.addrs.clone())
    }

    fn keep(
        &self,
        key: (String, u16),
        family: IpFamily,
        addrs: &ResolvedSocketAddrs,
        now: Instant,
    ) {
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        if names.len() >= MAX_NAMES && !names.contains_key(&key) {
            names.clear();
        }
        let found = Found {
            addrs: addrs.clone(),
            family,
            at: now,
        };
        names.insert(key, found);
    }
}

impl Resolver for CachedResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let family = config.ip_family();
        if let Some(addr) = literal(uri) {
            // The family filter decides as it would for a looked-up name.
            if family.keep_wanted([addr].into_iter()).count() == 1 {
                let mut addrs = self.empty();
                addrs.push(addr);
                return Ok(addrs);
            }
            return self.lookup.resolve(uri, config, timeout);
        }
        let key = match (uri.host(), port_of(uri)) {
            (Some(host), Some(port)) => (host.to_ascii_lowercase(), port),
            _ => return self.lookup.resolve(uri, config, timeout),
        };
        let now = Instant::now();
        if let Some(addrs) = self.kept(&key, family, now) {
            return Ok(addrs);
        }
        // A failed lookup is not kept: the next request tries again.
        let addrs = self.lookup.resolve(uri, config, timeout)?;
        self.keep(key, family, &addrs, now);
        Ok(addrs)
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

    fn resolve(r: &CachedResolver, url: &str) -> Vec<SocketAddr> {
        let config = ureq::Agent::config_builder().build();
        let addrs = r
            .resolve(&url.parse().unwrap(), &config, NextTimeout::default())
            .unwrap();
        addrs.iter().copied().collect()
    }

    fn kept_names(r: &CachedResolver) -> Vec<(String, u16)> {
        let mut keys: Vec<_> = r.names.lock().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    }

    #[test]
    fn a_name_is_looked_up_once_per_ttl() {
        let r = CachedResolver::default();
        let first = resolve(&r, "http://LocalHost:8080/v1");
        assert!(
            first
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() == 8080)
        );
        assert_eq!(kept_names(&r), [("localhost".to_string(), 8080)]);
        // Kept: a lookup now would set a new time; the kept one stays.
        let at = r.names.lock().unwrap()[&("localhost".into(), 8080)].at;
        assert_eq!(resolve(&r, "http://localhost:8080/other"), first);
        assert_eq!(r.names.lock().unwrap()[&("localhost".into(), 8080)].at, at);
        // Another port is another entry; a literal is never kept.
        resolve(&r, "https://localhost/x");
        resolve(&r, "http://127.0.0.1:9/x");
        assert_eq!(
            kept_names(&r),
            [
                ("localhost".to_string(), 443),
                ("localhost".to_string(), 8080)
            ]
        );
        // Once stale, the name is looked up again (and kept anew).
        r.names
            .lock()
            .unwrap()
            .get_mut(&("localhost".into(), 8080))
            .unwrap()
            .at -= NAME_TTL;
        assert_eq!(resolve(&r, "http://localhost:8080/v1"), first);
        assert!(r.names.lock().unwrap()[&("localhost".into(), 8080)].at > at);
    }

    #[test]
    fn clones_share_the_table_and_failures_are_not_kept() {
        let r = CachedResolver::default();
        let shard = r.clone();
        resolve(&shard, "http://localhost:1/");
        assert_eq!(kept_names(&r), [("localhost".to_string(), 1)]);
        let config = ureq::Agent::config_builder().build();
        // A label over DNS's 63 bytes: the lookup fails before any query
        // could leave the machine.
        let missing: Uri = format!("http://{}.invalid/", "x".repeat(64))
            .parse()
            .unwrap();
        assert!(
            r.resolve(&missing, &config, NextTimeout::default())
                .is_err()
        );
        assert_eq!(kept_names(&r).len(), 1);
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
